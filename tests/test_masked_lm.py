import numpy as np
import pytest
import torch
from transformers import (BertConfig, BertForMaskedLM, BertModel, BertTokenizerFast, DataCollatorForLanguageModeling,
                          ModernBertForMaskedLM)

from companion.masked_lm import (
    CONTEXTS,
    IGNORE_INDEX,
    bert_parameter_count,
    context_ablation,
    fixed_mask,
    held_out_perplexity,
    mask_tokens,
    masked_lm_loss,
    masked_token_scores,
    pack_blocks,
    permutation_attention_mask,
    small_bert_config,
    small_modernbert_config,
    train_masked_lm,
    unigram_log_probs,
    whole_word_positions,
    wordpiece_bert_tokenizer,
)

CORPUS = [
    "the cat sat on the mat.", "the dog sat on the rug.", "a cat and a dog played in the garden.",
    "the bank raised its interest rates.", "we walked along the river bank.", "the dog chased the cat.",
] * 20


def _tiny_tokenizer():
    words = sorted({w for s in CORPUS for w in s.replace(".", " .").split()})
    return BertTokenizerFast(vocab={t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words)})


def _ids_with_specials(rows=200, length=512, vocab_size=1000, seed=0):
    """Token ids 10..vocab-1, with [CLS]=2 first, [SEP]=3 last and some [PAD]=0 at the end of odd rows."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, vocab_size, (rows, length), generator=g)
    ids[:, 0], ids[:, -1] = 2, 3
    ids[1::2, -50:] = 0
    return ids, torch.isin(ids, torch.tensor([0, 2, 3]))


def _fractions(original, inputs, labels, special, mask_id):
    selected = labels != IGNORE_INDEX
    return {
        "selected": (selected & ~special).sum().item() / (~special).sum().item(),
        "mask": (inputs[selected] == mask_id).float().mean().item(),
        "random": ((inputs[selected] != mask_id) & (inputs[selected] != original[selected])).float().mean().item(),
        "kept": (inputs[selected] == original[selected]).float().mean().item(),
        "special selected": (selected & special).sum().item(),
    }


def test_masking_proportions_and_invariants():
    ids, special = _ids_with_specials()
    inputs, labels = mask_tokens(ids, special, mask_token_id=4, vocab_size=1000,
                                 generator=torch.Generator().manual_seed(1))
    f = _fractions(ids, inputs, labels, special, 4)
    # about 95,000 non-special tokens: the standard error of 15% is 0.0012
    assert abs(f["selected"] - 0.15) < 0.006
    assert abs(f["mask"] - 0.8) < 0.015
    # a random replacement equals the original token with probability ~1/1000
    assert abs(f["random"] - 0.1) < 0.012 and abs(f["kept"] - 0.1) < 0.012
    assert f["special selected"] == 0
    selected = labels != IGNORE_INDEX
    assert torch.equal(labels[selected], ids[selected])
    assert torch.equal(inputs[~selected], ids[~selected])


def test_masking_matches_transformers_collator_statistically():
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(995)])}
    tokenizer = BertTokenizerFast(vocab=vocab)
    assert (tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.mask_token_id) == (0, 2, 3, 4)
    ids, special = _ids_with_specials()
    torch.manual_seed(3)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, return_tensors="pt")
    # the collator finds special tokens itself (from the tokenizer), as our caller does by id
    theirs = collator.torch_mask_tokens(ids.clone(), special_tokens_mask=special.clone())
    ours = mask_tokens(ids, special, tokenizer.mask_token_id, len(tokenizer), generator=torch.Generator().manual_seed(3))
    f_theirs = _fractions(ids, *theirs, special, 4)
    f_ours = _fractions(ids, *ours, special, 4)
    assert f_theirs["special selected"] == f_ours["special selected"] == 0
    for key in ("selected", "mask", "random", "kept"):
        assert abs(f_ours[key] - f_theirs[key]) < 0.02, (key, f_ours, f_theirs)


def test_masking_is_repeatable_with_a_generator_and_dynamic_without_reseeding():
    ids, special = _ids_with_specials(rows=4, length=64)
    a = mask_tokens(ids, special, 4, 1000, generator=torch.Generator().manual_seed(5))
    b = mask_tokens(ids, special, 4, 1000, generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    g = torch.Generator().manual_seed(5)
    first, second = mask_tokens(ids, special, 4, 1000, generator=g), mask_tokens(ids, special, 4, 1000, generator=g)
    assert not torch.equal(first[1], second[1])


@pytest.mark.parametrize("p", [0, 1, 1.5, -0.1])
def test_mask_probability_outside_the_open_interval_is_rejected(p):
    ids, special = _ids_with_specials(rows=2, length=8)
    with pytest.raises(ValueError, match=r"strictly between 0 and 1, got"):
        mask_tokens(ids, special, 4, 1000, mlm_probability=p)


def test_special_mask_shape_must_match():
    ids, special = _ids_with_specials(rows=2, length=8)
    with pytest.raises(ValueError, match="special_tokens_mask has shape"):
        mask_tokens(ids, special[:, :4], 4, 1000)


def test_pack_blocks_frames_every_block():
    tokenizer = _tiny_tokenizer()
    assert tokenizer.tokenize("The cat.") == ["the", "cat", "."]
    blocks = pack_blocks(CORPUS, tokenizer, block_size=16)
    stream = [i for ids in tokenizer(CORPUS, add_special_tokens=False)["input_ids"] for i in ids]
    assert blocks.shape == (len(stream) // 14, 16)
    assert (blocks[:, 0] == tokenizer.cls_token_id).all() and (blocks[:, -1] == tokenizer.sep_token_id).all()
    assert blocks[:, 1:-1].flatten().tolist() == stream[: len(blocks) * 14]


def test_masked_lm_loss_equals_the_library_loss():
    torch.manual_seed(0)
    model = BertForMaskedLM(small_bert_config(vocab_size=100, hidden_size=32, num_layers=1, num_heads=2, max_length=16)).eval()
    ids = torch.randint(5, 100, (3, 16), generator=torch.Generator().manual_seed(0))
    inputs, labels = mask_tokens(ids, torch.zeros_like(ids, dtype=torch.bool), 4, 100, mlm_probability=0.5,
                                 generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(masked_lm_loss(model, inputs, labels), model(input_ids=inputs, labels=labels).loss, atol=1e-6)


def test_training_loss_decreases_on_a_tiny_corpus():
    torch.manual_seed(0)
    tokenizer = _tiny_tokenizer()
    blocks = pack_blocks(CORPUS, tokenizer, block_size=16)
    model = BertForMaskedLM(small_bert_config(len(tokenizer), hidden_size=32, num_layers=1, num_heads=2, max_length=16))
    history = train_masked_lm(model, tokenizer, blocks, blocks[:8], steps=40, batch_size=16, lr=3e-3, warmup=5,
                              probes=["the cat [MASK] on the mat."], checkpoints=[0, 40], eval_every=20)
    losses = history["train_loss"]
    assert len(losses) == 40 and np.mean(losses[-5:]) < losses[0] - 0.3
    assert history["eval_steps"] == [0, 20, 40]
    assert history["held_out_perplexity"][-1] < history["held_out_perplexity"][0]
    assert sorted(history["predictions"]) == [0, 40] and len(history["predictions"][40][0]) == 3
    with pytest.raises(ValueError, match=r"checkpoints must lie in 0..5"):
        train_masked_lm(model, tokenizer, blocks, blocks[:8], steps=5, checkpoints=[6])


def test_permutation_mask_by_hand():
    # order 2, 0, 3, 1: position 2 is predicted first (sees nothing), position 1 last (sees 2, 0, 3)
    expected = np.array([[0, 0, 1, 0],
                         [1, 0, 1, 1],
                         [0, 0, 0, 0],
                         [1, 0, 1, 0]], dtype=bool)
    assert np.array_equal(permutation_attention_mask([2, 0, 3, 1]), expected)
    # the identity order is a left-to-right language model: strictly lower triangular
    assert np.array_equal(permutation_attention_mask(range(5)), np.tril(np.ones((5, 5), dtype=bool), k=-1))
    with pytest.raises(ValueError, match=r"permutation of 0..2"):
        permutation_attention_mask([0, 0, 2])


@pytest.mark.parametrize("config", [
    BertConfig(),  # BERT-base defaults
    BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536,
               max_position_embeddings=512),  # MiniLM-L6-H384
    small_bert_config(vocab_size=8000),
], ids=["bert-base", "minilm-l6", "small"])
def test_parameter_count_matches_a_model_built_on_the_meta_device(config):
    with torch.device("meta"):
        model = BertModel(config)
    assert bert_parameter_count(config) == sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- held-out evaluation


def _tiny_model(vocab_size, length=16, seed=0):
    torch.manual_seed(seed)
    return BertForMaskedLM(small_bert_config(vocab_size, hidden_size=32, num_layers=1, num_heads=2,
                                             max_length=length)).eval()


def test_masked_token_scores_equal_a_direct_cross_entropy_and_held_out_perplexity():
    tokenizer = _tiny_tokenizer()
    blocks = pack_blocks(CORPUS, tokenizer, block_size=16)[:10]
    model = _tiny_model(len(tokenizer))
    inputs, labels = fixed_mask(blocks, tokenizer, 0.3, seed=4)
    scores = masked_token_scores(model, inputs, labels, batch_size=3)
    with torch.no_grad():
        logits = model(input_ids=inputs).logits
    rows, positions = (labels != IGNORE_INDEX).nonzero(as_tuple=True)
    direct = torch.nn.functional.cross_entropy(logits[rows, positions], labels[rows, positions], reduction="none")
    assert np.array_equal(scores["row"], rows.numpy()) and np.array_equal(scores["position"], positions.numpy())
    assert np.allclose(scores["loss"], direct.numpy(), atol=1e-5)
    assert np.array_equal(scores["top"][:, 0], logits[rows, positions].argmax(-1).numpy())
    assert np.array_equal(scores["correct"], scores["top"][:, 0] == labels[rows, positions].numpy())
    assert np.isclose(np.exp(scores["loss"].mean()), held_out_perplexity(model, inputs, labels), rtol=1e-5)


def test_fixed_mask_is_repeatable_and_selects_at_its_rate():
    ids, special = _ids_with_specials()
    tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(995)])})
    a, b = fixed_mask(ids, tokenizer, 0.4, seed=2), fixed_mask(ids, tokenizer, 0.4, seed=2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    selected = a[1] != IGNORE_INDEX
    assert abs(selected.sum().item() / (~special).sum().item() - 0.4) < 0.01 and not (selected & special).any()
    # every target of a held-out evaluation is a [MASK]: none kept, none random
    assert (a[0][selected] == tokenizer.mask_token_id).all() and torch.equal(a[0][~selected], ids[~selected])


def test_mask_shares_change_the_split():
    ids, special = _ids_with_specials()
    inputs, labels = mask_tokens(ids, special, 4, 1000, generator=torch.Generator().manual_seed(1),
                                 mask_share=0.5, random_share=0.3)
    f = _fractions(ids, inputs, labels, special, 4)
    assert abs(f["mask"] - 0.5) < 0.02 and abs(f["random"] - 0.3) < 0.02 and abs(f["kept"] - 0.2) < 0.02
    with pytest.raises(ValueError, match="sum <= 1"):
        mask_tokens(ids, special, 4, 1000, mask_share=0.8, random_share=0.3)


def test_masked_lm_loss_equals_the_library_loss_for_a_small_modernbert():
    tokenizer = wordpiece_bert_tokenizer(CORPUS, vocab_size=60)
    torch.manual_seed(0)
    model = ModernBertForMaskedLM(small_modernbert_config(tokenizer, hidden_size=32, num_layers=1, num_heads=2,
                                                          max_length=16)).eval()
    assert model.config.vocab_size == len(tokenizer) and model.config.pad_token_id == tokenizer.pad_token_id
    blocks = pack_blocks(CORPUS, tokenizer, block_size=16)[:6]
    inputs, labels = fixed_mask(blocks, tokenizer, 0.3, seed=0)
    with torch.no_grad():
        assert torch.allclose(masked_lm_loss(model, inputs, labels), model(input_ids=inputs, labels=labels).loss, atol=1e-5)
    with pytest.raises(ValueError, match="multiple of num_heads"):
        small_modernbert_config(tokenizer, hidden_size=30, num_heads=4)


def test_unigram_log_probs_by_hand():
    tokenizer = _tiny_tokenizer()
    vocab = tokenizer.get_vocab()
    # [CLS] the cat the [SEP] / [CLS] dog the . [SEP]: the 3, cat 1, dog 1, . 1 (six ordinary tokens)
    blocks = torch.tensor([[vocab["[CLS]"], vocab["the"], vocab["cat"], vocab["the"], vocab["[SEP]"]],
                           [vocab["[CLS]"], vocab["dog"], vocab["the"], vocab["."], vocab["[SEP]"]]])
    log_p = unigram_log_probs(blocks, tokenizer)
    n_ordinary = len(tokenizer) - 5  # add one to each of them
    total = 6 + n_ordinary
    assert np.isclose(log_p[vocab["the"]].item(), np.log(4 / total))
    assert np.isclose(log_p[vocab["cat"]].item(), np.log(2 / total))
    assert np.isclose(log_p[vocab["garden"]].item(), np.log(1 / total))
    assert log_p[vocab["[MASK]"]].item() == -np.inf and log_p[vocab["[CLS]"]].item() == -np.inf
    assert np.isclose(torch.logsumexp(log_p, 0).item(), 0.0)


def test_wordpiece_bert_tokenizer_frames_pairs_with_segment_ids():
    tokenizer = wordpiece_bert_tokenizer(CORPUS, vocab_size=60)
    assert len(tokenizer) == 64 and tokenizer.convert_ids_to_tokens([60, 61, 62, 63]) == ["[PAD]", "[CLS]", "[SEP]", "[MASK]"]
    batch = tokenizer("The cat sat.", "The dog [MASK].")
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"])
    assert tokens == ["[CLS]", "the", "cat", "sat", ".", "[SEP]", "the", "dog", "[MASK]", ".", "[SEP]"]
    assert batch["token_type_ids"] == [0] * 6 + [1] * 5
    assert tokenizer.decode(tokenizer("gardens")["input_ids"], skip_special_tokens=True) == "gardens"


def test_whole_word_positions_keep_their_margin_and_avoid_pieces():
    tokenizer = wordpiece_bert_tokenizer(CORPUS, vocab_size=70)  # small: many words are cut into pieces
    blocks = pack_blocks(CORPUS * 3, tokenizer, block_size=32)
    assert sum(t.startswith("##") for t in tokenizer.convert_ids_to_tokens(blocks.flatten().tolist())) > 1000
    positions = whole_word_positions(blocks, tokenizer, margin=5, seed=1)
    assert np.array_equal(positions, whole_word_positions(blocks, tokenizer, margin=5, seed=1))
    assert ((positions >= 6) & (positions <= 32 - 7)).all()
    for row, p in zip(blocks, positions):
        token, after = tokenizer.convert_ids_to_tokens([int(row[p]), int(row[p + 1])])
        assert token.isalpha() and not after.startswith("##")
    with pytest.raises(ValueError, match="no whole word"):
        whole_word_positions(blocks[:, :12], tokenizer, margin=5)


def test_context_ablation_hides_exactly_one_side():
    tokenizer = _tiny_tokenizer()
    blocks = pack_blocks(CORPUS, tokenizer, block_size=16)[:12]
    model = _tiny_model(len(tokenizer))
    positions = np.full(len(blocks), 7)
    result = context_ablation(model, tokenizer, blocks, positions).set_index(["context", "item"])
    assert list(result.index.get_level_values(0).unique()) == list(CONTEXTS)
    # change every token to the right of the blank: "left only" must not move, "both sides" must
    changed = blocks.clone()
    changed[:, 8:-1] = tokenizer.convert_tokens_to_ids("garden")
    other = context_ablation(model, tokenizer, changed, positions).set_index(["context", "item"])
    assert np.allclose(result.loc["left only", "loss"], other.loc["left only", "loss"], atol=1e-5)
    assert not np.allclose(result.loc["both sides", "loss"], other.loc["both sides", "loss"], atol=1e-3)
    # "both sides" is the plain score of the block with one [MASK]
    inputs, labels = blocks.clone(), torch.full_like(blocks, IGNORE_INDEX)
    labels[:, 7], inputs[:, 7] = blocks[:, 7], tokenizer.mask_token_id
    assert np.allclose(result.loc["both sides", "loss"], masked_token_scores(model, inputs, labels)["loss"], atol=1e-5)
    with pytest.raises(ValueError, match="one position in 1..14"):
        context_ablation(model, tokenizer, blocks, np.full(len(blocks), 15))
