"""Named entity recognition: BIO tags, entity-level scores, silver labels and token probes.

- :func:`check_tags` validates a sequence of BIO tags; :func:`bio_spans` reads the
  entities out of one (``(type, start, end)``, end exclusive), :func:`spans_to_bio`
  writes them back, and :func:`types_to_bio` turns one entity type per token (as a
  token classifier predicts them) into BIO tags, one entity per run of equal types.
- :func:`entity_scores` and :func:`entity_report`: precision, recall and F1 over
  *entities* (an entity counts only if its span and type both match exactly), the
  CoNLL measure that ``seqeval`` computes.
- :func:`load_gold`: the chapter's hand-labelled news-like sentences
  (``companion/data/ner/``, labels PERSON, ORG, GPE).
- :data:`ONTONOTES_LABELS`, :func:`map_label`: spaCy's 18 OntoNotes types and how
  they map to ours (PERSON, ORG, GPE kept; the other 15 become ``O``).
- :func:`spacy_tags` runs a spaCy pipeline on pre-tokenized sentences and returns our
  BIO tags; :func:`news_sample` picks the chapter's articles and :func:`silver_sentences`
  labels them with spaCy, sentence by sentence (cached by :func:`news_silver`).
- Token features for a probe: :func:`static_vectors` (GloVe or any
  ``KeyedVectors``, unknown words get the zero vector), :func:`spacy_vectors`
  (the pipeline's own 300-d table) and :func:`minilm_word_vectors` (one vector per
  word from a BERT-style encoder: the mean or the first of its WordPiece vectors),
  and :func:`fit_probe`, the logistic regression every probe uses.

Explained in the chapter "Named entity recognition" (``book/named-entities.ipynb``).

Examples
--------
Gold has two entities, the prediction finds one of them exactly and gets the type of
the other wrong: precision 1/2, recall 1/2.

>>> from companion.ner import bio_spans, entity_scores
>>> gold = [["B-PERSON", "I-PERSON", "O", "B-GPE"]]
>>> pred = [["B-PERSON", "I-PERSON", "O", "B-ORG"]]
>>> bio_spans(gold[0])
[('PERSON', 0, 2), ('GPE', 3, 4)]
>>> entity_scores(gold, pred)
{'precision': 0.5, 'recall': 0.5, 'f1': 0.5, 'gold': 2, 'predicted': 2, 'correct': 1}
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "ENTITY_TYPES",
    "ONTONOTES_LABELS",
    "GOLD_PATH",
    "check_tags",
    "bio_spans",
    "spans_to_bio",
    "types_to_bio",
    "tags_to_types",
    "entity_scores",
    "entity_report",
    "map_label",
    "load_gold",
    "spacy_tags",
    "news_sample",
    "silver_sentences",
    "news_silver",
    "static_vectors",
    "spacy_vectors",
    "minilm_word_vectors",
    "PROBE_C",
    "fit_probe",
]

#: The entity types of the chapter's hand-labelled set.
ENTITY_TYPES = ("PERSON", "ORG", "GPE")

#: The 18 OntoNotes 5 types that spaCy's English pipelines predict.
ONTONOTES_LABELS = ("CARDINAL", "DATE", "EVENT", "FAC", "GPE", "LANGUAGE", "LAW", "LOC", "MONEY", "NORP",
                    "ORDINAL", "ORG", "PERCENT", "PERSON", "PRODUCT", "QUANTITY", "TIME", "WORK_OF_ART")

#: The hand-labelled sentences (CoNLL style: token, tab, BIO tag; blank line between sentences).
GOLD_PATH = Path(__file__).parent / "data" / "ner" / "news_sentences.tsv"


def _check_types(types) -> tuple[str, ...]:
    types = tuple(types)
    if not types or not all(isinstance(t, str) and t and t != "O" and "-" not in t for t in types):
        raise ValueError(f"types must be non-empty strings other than 'O' without '-', got {types!r}")
    return types


def check_tags(tags: Sequence[str], types: Sequence[str] = ENTITY_TYPES) -> list[str]:
    """Return ``tags`` as a list if every tag is ``O``, ``B-T`` or ``I-T`` with ``T`` in ``types``.

    Raises ValueError naming the first bad tag and its position (``X-PER`` is not a
    BIO tag; ``B-LOC`` is one, but of a type not in ``types``), or if ``tags`` is empty.
    """
    if isinstance(tags, str):
        raise TypeError(f"tags must be a sequence of tags, not one string: {tags!r}")
    types = _check_types(types)
    tags = list(tags)
    if not tags:
        raise ValueError("empty sentence: a tag sequence needs at least one tag")
    for i, tag in enumerate(tags):
        if tag == "O":
            continue
        prefix, _, kind = tag.partition("-") if isinstance(tag, str) else ("", "", "")
        if prefix not in ("B", "I") or not kind:
            raise ValueError(f"tag {i} is {tag!r}, not a BIO tag: valid tags are 'O', 'B-<type>', 'I-<type>'")
        if kind not in types:
            raise ValueError(f"tag {i} is {tag!r}, whose type {kind!r} is unknown; valid types are {list(types)}")
    return tags


def bio_spans(tags: Sequence[str], types: Sequence[str] = ENTITY_TYPES) -> list[tuple[str, int, int]]:
    """The entities of one BIO sequence as ``(type, start, end)`` with ``end`` exclusive, in order.

    An entity starts at ``B-T``, or at an ``I-T`` that does not continue an entity of
    type ``T`` (after ``O`` or after another type): the CoNLL-2000 script's rule, which
    ``seqeval`` follows by default. It continues over the ``I-T`` that follow.
    """
    tags = check_tags(tags, types)
    spans = []
    current = None  # [type, start]
    for i, tag in enumerate(tags):
        prefix, _, kind = tag.partition("-")
        continues = current is not None and prefix == "I" and kind == current[0]
        if current is not None and not continues:
            spans.append((current[0], current[1], i))
            current = None
        if tag != "O" and not continues:
            current = [kind, i]
    if current is not None:
        spans.append((current[0], current[1], len(tags)))
    return spans


def spans_to_bio(spans, length: int, types: Sequence[str] = ENTITY_TYPES) -> list[str]:
    """BIO tags of a sentence of ``length`` tokens holding the entities ``spans`` (``(type, start, end)``).

    Raises ValueError for a span outside the sentence, an empty span, overlapping spans or an unknown type.
    """
    types = _check_types(types)
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length must be a positive integer, got {length!r}")
    tags = ["O"] * length
    for span in sorted(spans, key=lambda s: (s[1], s[2])):
        kind, start, end = span
        if kind not in types:
            raise ValueError(f"span {span!r} has the unknown type {kind!r}; valid types are {list(types)}")
        if not 0 <= start < end <= length:
            raise ValueError(f"span {span!r} must satisfy 0 <= start < end <= {length}")
        if any(tag != "O" for tag in tags[start:end]):
            raise ValueError(f"span {span!r} overlaps another span")
        tags[start:end] = [f"B-{kind}"] + [f"I-{kind}"] * (end - start - 1)
    return tags


def tags_to_types(tags: Sequence[str], types: Sequence[str] = ENTITY_TYPES) -> list[str]:
    """One label per token: the type of the entity it is in, or ``O`` (the B/I distinction dropped)."""
    return [tag.partition("-")[2] or "O" for tag in check_tags(tags, types)]


def types_to_bio(labels: Sequence[str], types: Sequence[str] = ENTITY_TYPES) -> list[str]:
    """BIO tags from one label per token (a type or ``O``): each run of equal types is one entity.

    This is how a token classifier that predicts only types is decoded; two adjacent
    entities of the same type merge into one, which the type labels cannot tell apart.
    """
    types = _check_types(types)
    labels = list(labels)
    if not labels:
        raise ValueError("empty sentence: need at least one label")
    tags = []
    for i, label in enumerate(labels):
        if label != "O" and label not in types:
            raise ValueError(f"label {i} is {label!r}; valid labels are 'O' and {list(types)}")
        if label == "O":
            tags.append("O")
        else:
            tags.append(f"I-{label}" if i and labels[i - 1] == label else f"B-{label}")
    return tags


def _sentence_pairs(gold, predicted, types):
    if isinstance(gold, str) or isinstance(predicted, str):
        raise TypeError("gold and predicted must be lists of tag sequences (one per sentence), not strings")
    gold, predicted = list(gold), list(predicted)
    if len(gold) != len(predicted):
        raise ValueError(f"gold has {len(gold)} sentences but predicted has {len(predicted)}; they must match")
    if not gold:
        raise ValueError("no sentences to evaluate")
    pairs = []
    for n, (g, p) in enumerate(zip(gold, predicted)):
        if isinstance(g, str) or isinstance(p, str):
            raise TypeError(f"sentence {n} is a string; each sentence must be a list of tags")
        if len(g) != len(p):
            raise ValueError(f"sentence {n} has {len(g)} gold tags but {len(p)} predicted tags; they must match")
        if not g:
            raise ValueError(f"sentence {n} is empty")
        pairs.append((set(bio_spans(g, types)), set(bio_spans(p, types))))
    return pairs


def _prf(gold: int, predicted: int, correct: int) -> dict:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "gold": gold, "predicted": predicted, "correct": correct}


def entity_scores(gold, predicted, types: Sequence[str] = ENTITY_TYPES) -> dict:
    """Micro-averaged entity precision, recall and F1 of ``predicted`` against ``gold`` tag sequences.

    An entity is correct only if an entity of the same type covers exactly the same
    tokens in the gold sequence. With G gold, P predicted and C correct entities,
    precision = C / P, recall = C / G, F1 = 2PR / (P + R); a 0/0 counts as 0, as in
    seqeval. Both arguments are lists of sentences, each a list of BIO tags; the
    sentences must pair up with equal lengths.
    """
    pairs = _sentence_pairs(gold, predicted, types)
    return _prf(sum(len(g) for g, _ in pairs), sum(len(p) for _, p in pairs), sum(len(g & p) for g, p in pairs))


def entity_report(gold, predicted, types: Sequence[str] = ENTITY_TYPES) -> pd.DataFrame:
    """:func:`entity_scores` per entity type and for all types together (row ``all``), as a DataFrame."""
    pairs = _sentence_pairs(gold, predicted, types)
    rows = {}
    for kind in _check_types(types):
        g = sum(sum(s[0] == kind for s in gs) for gs, _ in pairs)
        p = sum(sum(s[0] == kind for s in ps) for _, ps in pairs)
        c = sum(sum(s[0] == kind for s in gs & ps) for gs, ps in pairs)
        rows[kind] = _prf(g, p, c)
    rows["all"] = _prf(sum(len(g) for g, _ in pairs), sum(len(p) for _, p in pairs),
                       sum(len(g & p) for g, p in pairs))
    frame = pd.DataFrame(rows).T
    frame[["gold", "predicted", "correct"]] = frame[["gold", "predicted", "correct"]].astype(int)
    return frame


def map_label(label: str, types: Sequence[str] = ENTITY_TYPES) -> str:
    """Our type for one of spaCy's OntoNotes labels: itself if it is in ``types``, else ``"O"``.

    Raises ValueError for a label that is not one of the 18 OntoNotes types.
    """
    if label not in ONTONOTES_LABELS:
        raise ValueError(f"unknown entity label {label!r}; spaCy's OntoNotes labels are {list(ONTONOTES_LABELS)}")
    return label if label in _check_types(types) else "O"


def load_gold(path: str | Path | None = None, types: Sequence[str] = ENTITY_TYPES) -> list[tuple[list[str], list[str]]]:
    """The hand-labelled sentences as a list of ``(tokens, tags)``, every tag checked.

    The file has one ``token<TAB>tag`` per line and a blank line after each sentence;
    lines starting with ``#`` are comments. Raises ValueError naming the line of a
    malformed entry.
    """
    path = Path(GOLD_PATH if path is None else path)
    sentences, tokens, tags = [], [], []
    lines = path.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines + [""], start=1):
        if line.startswith("#"):
            continue
        if not line.strip():
            if tokens:
                try:
                    check_tags(tags, types)
                except ValueError as error:
                    raise ValueError(f"{path.name}, sentence ending before line {number}: {error}") from None
                sentences.append((tokens, tags))
                tokens, tags = [], []
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0]:
            raise ValueError(f"{path.name} line {number}: expected 'token<TAB>tag', got {line!r}")
        tokens.append(fields[0])
        tags.append(fields[1])
    if not sentences:
        raise ValueError(f"{path} holds no sentences")
    return sentences


def _doc_tags(doc, types, keep) -> list[str]:
    """BIO tags of the tokens of ``doc`` whose index is in ``keep``, entity labels mapped by :func:`map_label`."""
    types = _check_types(types)
    per_token = ["O"] * len(doc)
    for ent in doc.ents:
        kind = map_label(ent.label_, types)
        if kind != "O":
            per_token[ent.start:ent.end] = [f"B-{kind}"] + [f"I-{kind}"] * (len(ent) - 1)
    return [per_token[i] for i in keep]


def spacy_tags(nlp, sentences: Sequence[Sequence[str]], types: Sequence[str] = ENTITY_TYPES,
               batch_size: int = 64) -> list[list[str]]:
    """spaCy's entities on pre-tokenized ``sentences``, as BIO tags of ``types`` (other labels become ``O``).

    Each sentence is built as a ``Doc`` from its words, so the tags align with the
    tokens one to one whatever spaCy's own tokenizer would have done.
    """
    from spacy.tokens import Doc

    if isinstance(sentences, str):
        raise TypeError("sentences must be a list of token lists, not one string")
    docs = []
    for n, words in enumerate(sentences):
        if isinstance(words, str) or not len(words):
            raise ValueError(f"sentence {n} must be a non-empty list of tokens, got {words!r}")
        docs.append(Doc(nlp.vocab, words=list(words)))
    return [_doc_tags(doc, types, range(len(doc))) for doc in nlp.pipe(docs, batch_size=batch_size)]


def news_sample(n_articles: int = 60, min_chars: int = 800, max_chars: int = 2000) -> pd.DataFrame:
    """The chapter's articles: the first ``n_articles`` (by ``article_id``) whose text has ``min_chars`` to ``max_chars`` characters."""
    from .datasets import news_articles

    if isinstance(n_articles, bool) or not isinstance(n_articles, (int, np.integer)) or n_articles < 2:
        raise ValueError(f"n_articles must be an integer >= 2, got {n_articles!r}")
    if not 0 <= min_chars < max_chars:
        raise ValueError(f"need 0 <= min_chars < max_chars, got {min_chars!r} and {max_chars!r}")
    articles = news_articles()
    lengths = articles["text"].str.len()
    chosen = articles[(lengths >= min_chars) & (lengths <= max_chars)].head(n_articles)
    if len(chosen) < n_articles:
        raise ValueError(f"only {len(chosen)} articles have {min_chars}..{max_chars} characters; asked for {n_articles}")
    return chosen[["article_id", "outlet", "title", "text"]].reset_index(drop=True)


def silver_sentences(nlp, texts: Sequence[str], ids: Sequence | None = None, max_tokens: int = 60,
                     batch_size: int = 16) -> pd.DataFrame:
    """Label ``texts`` with ``nlp``'s named entities, one row per sentence.

    Only the pipeline's ``ner`` component runs (it has its own embedding layer, so it
    does not need the shared ``tok2vec``); sentences come from spaCy's rule-based
    ``Sentencizer``, whitespace tokens are dropped, and sentences longer than
    ``max_tokens`` are cut into pieces of at most ``max_tokens`` tokens. Columns:
    ``doc`` (the id from ``ids``, default the position), ``tokens``, ``labels`` (the
    full OntoNotes BIO tags, e.g. ``B-NORP``) and ``tags`` (our BIO tags, other types ``O``).
    """
    from spacy.pipeline import Sentencizer

    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not one string")
    texts = list(texts)
    ids = list(range(len(texts))) if ids is None else list(ids)
    if len(ids) != len(texts):
        raise ValueError(f"got {len(ids)} ids for {len(texts)} texts; they must match")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer)) or max_tokens < 1:
        raise ValueError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    sentencizer = Sentencizer()
    rows = []
    with nlp.select_pipes(enable=["ner"]):
        for doc_id, doc in zip(ids, nlp.pipe(texts, batch_size=batch_size)):
            doc = sentencizer(doc)
            full = ["O"] * len(doc)
            for ent in doc.ents:
                full[ent.start:ent.end] = [f"B-{ent.label_}"] + [f"I-{ent.label_}"] * (len(ent) - 1)
            for sent in doc.sents:
                keep = [t.i for t in sent if not t.is_space]
                for start in range(0, len(keep), max_tokens):
                    piece = keep[start:start + max_tokens]
                    rows.append({"doc": doc_id, "tokens": [doc[i].text for i in piece],
                                 "labels": [full[i] for i in piece],
                                 "tags": _doc_tags(doc, ENTITY_TYPES, piece)})
    return pd.DataFrame(rows, columns=["doc", "tokens", "labels", "tags"])


def news_silver(nlp=None, n_articles: int = 60) -> pd.DataFrame:
    """:func:`silver_sentences` of :func:`news_sample`, cached (``ner/news-silver-<n>``); ``doc`` is the article_id.

    ``nlp`` defaults to :func:`companion.models.load_spacy_md`; it is loaded only when
    the cache is empty.
    """
    from .cache import cached_pickle

    def compute():
        from .models import load_spacy_md

        sample = news_sample(n_articles)
        return silver_sentences(nlp if nlp is not None else load_spacy_md(), sample["text"].tolist(),
                                ids=sample["article_id"].tolist())

    return cached_pickle(f"ner/news-silver-{n_articles}", compute)


def _check_sentences(sentences) -> list[list[str]]:
    if isinstance(sentences, str):
        raise TypeError("sentences must be a list of token lists, not one string")
    out = []
    for n, words in enumerate(sentences):
        if isinstance(words, str) or not len(words):
            raise ValueError(f"sentence {n} must be a non-empty list of tokens, got {words!r}")
        out.append([str(w) for w in words])
    if not out:
        raise ValueError("no sentences given")
    return out


def static_vectors(sentences, kv, lowercase: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One row per token of ``sentences`` (concatenated) from the ``KeyedVectors`` ``kv``.

    Returns ``(X, known)``: unknown tokens get the zero vector and ``known`` is False
    for them. ``lowercase`` looks words up lower-cased (GloVe 6B is lower-cased).
    """
    words = [w.lower() if lowercase else w for s in _check_sentences(sentences) for w in s]
    index = kv.key_to_index
    rows = np.array([index.get(w, -1) for w in words])
    known = rows >= 0
    X = np.zeros((len(words), kv.vector_size), dtype=np.float32)
    X[known] = kv.vectors[rows[known]]
    return X, known


def spacy_vectors(sentences, vocab) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`static_vectors` for a spaCy ``Vocab``'s table (case-sensitive keys, as spaCy looks them up)."""
    words = [w for s in _check_sentences(sentences) for w in s]
    table = vocab.vectors
    rows = np.array([table.key2row.get(vocab.strings[w], -1) if w in vocab.strings else -1 for w in words])
    known = rows >= 0
    X = np.zeros((len(words), table.shape[1]), dtype=np.float32)
    X[known] = np.asarray(table.data)[rows[known]]
    return X, known


def minilm_word_vectors(sentences, tokenizer, model, layers: Sequence[int] = (0, 6), pool: str = "mean",
                        batch_size: int = 32) -> dict[int, np.ndarray]:
    """One vector per word of ``sentences`` (concatenated) at each of ``layers`` of a BERT-style encoder.

    Each sentence is given to the (fast) tokenizer already split into words
    (``is_split_into_words=True``), so ``word_ids()`` says which WordPiece tokens
    belong to which word. ``pool="mean"`` averages a word's pieces, ``"first"`` keeps
    its first piece. Layer 0 is the embedding output (context-free apart from the
    position), layer ``k`` the output of Transformer layer ``k``. A word the
    tokenizer turns into no piece at all gets the zero vector. Returns
    ``{layer: (n_words, d)}``.
    """
    import torch

    from .contextual import check_layer

    sentences = _check_sentences(sentences)
    if pool not in ("mean", "first"):
        raise ValueError(f"pool must be 'mean' or 'first', got {pool!r}")
    layers = [check_layer(layer, model.config.num_hidden_layers) for layer in layers]
    if not layers:
        raise ValueError("layers must name at least one layer")
    limit = model.config.max_position_embeddings
    # Batches of sentences of similar length waste less time on padding; the order is restored at the end.
    order = sorted(range(len(sentences)), key=lambda n: (len(sentences[n]), n))
    per_sentence = {layer: [None] * len(sentences) for layer in layers}
    for start in range(0, len(order), batch_size):
        members = order[start:start + batch_size]
        chunk = [sentences[n] for n in members]
        batch = tokenizer(chunk, is_split_into_words=True, return_tensors="pt", padding=True)
        if batch["input_ids"].shape[1] > limit:
            raise ValueError(f"a sentence has {batch['input_ids'].shape[1]} pieces, more than the model's {limit}; "
                             "cut long sentences first")
        with torch.no_grad():
            states = model(**batch, output_hidden_states=True).hidden_states
        for b, words in enumerate(chunk):
            word_ids = batch.word_ids(b)
            pieces = [[] for _ in words]
            for position, w in enumerate(word_ids):
                if w is not None:
                    pieces[w].append(position)
            for layer in layers:
                H = states[layer][b].numpy()
                vectors = np.zeros((len(words), H.shape[1]), dtype=np.float32)
                for w, positions in enumerate(pieces):
                    if positions:
                        vectors[w] = H[positions].mean(axis=0) if pool == "mean" else H[positions[0]]
                per_sentence[layer][members[b]] = vectors
    return {layer: np.concatenate(parts) for layer, parts in per_sentence.items()}


#: Inverse L2 strength of the probe's logistic regression (fixed in advance, not tuned on test data).
PROBE_C = 0.05


def fit_probe(X, y, C: float = PROBE_C, seed: int = 0):
    """Fit the chapter's probe: standardise each dimension, then multinomial logistic regression.

    Returns the fitted scikit-learn ``Pipeline``; ``predict`` gives one label per row.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or len(X) != len(y) or len(X) == 0:
        raise ValueError(f"need a non-empty 2-d X with one label per row, got X {X.shape} and {len(y)} labels")
    if len(np.unique(y)) < 2:
        raise ValueError(f"need at least two labels to fit a probe, got {np.unique(y).tolist()}")
    if not C > 0:
        raise ValueError(f"C must be positive, got {C!r}")
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=300, random_state=seed))
    return model.fit(X, y)
