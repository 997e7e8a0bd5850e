import ast
import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from companion import bench
from companion.bench import report_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_bench_report_markdown_shows_both_trainers_and_the_ratio():
    report = {
        "machine": "x86_64, 2 cores", "date": "2026-01-01", "corpus_tokens": 1000, "threads": 1,
        "numba_compile_seconds": 3.04,
        "settings": {"dim": 10, "window": 2, "negative": 1, "epochs": 1, "min_count": 1, "sample": 0.001, "seed": 0},
        "runs": {
            "companion (numba)": {"seconds": 2.0, "words_per_second": 500, "wordsim353": 0.3, "simlex999": 0.1, "analogies": 0.05},
            "gensim": {"seconds": 1.0, "words_per_second": 1000, "wordsim353": 0.32, "simlex999": 0.12, "analogies": 0.06},
        },
        "speed_ratio": 0.5, "wordsim353_gap": 0.02,
    }
    text = report_markdown(report)
    assert "| companion (numba) | 2.0 | 500 | 0.300 |" in text
    assert "compiled by numba once per process, before the run (3.0 s)" in text
    assert "| gensim | 1.0 | 1,000 | 0.320 |" in text
    assert "Speed ratio (companion / gensim): 0.50" in text


# --------------------------------------------------------------------------- the tiny-models table

ROW_MAKERS = ("_sgns_row", "_glove_row", "_bilm_row", "_mlm_row", "_gpt_row", "_t5_rows")


def _fake_row(name, **changes):
    fields = dict(model=name, chapter="ch", trainer=f"companion.x.{name}", held_out="some held-out items",
                  metric="accuracy", higher_is_better=True, score=0.6, baseline="majority class",
                  baseline_score=0.5, interval={"difference": 0.1, "low": 0.05, "high": 0.15}, parameters=1234,
                  steps=300, step_unit="Adam steps", train_seconds=12.34, seconds_source="history.json")
    return bench._row(**{**fields, **changes})


def test_tiny_models_report_has_a_row_per_model_with_every_field(monkeypatch):
    for maker in ROW_MAKERS:
        rows = [_fake_row(f"{maker} task {i}") for i in range(2)] if maker == "_t5_rows" else _fake_row(maker)
        monkeypatch.setattr(bench, maker, lambda rows=rows: rows)
    report = bench.bench_tiny_models()
    models = [row["model"] for row in report["rows"]]
    assert models == ["_sgns_row", "_glove_row", "_bilm_row", "_mlm_row", "_gpt_row", "_t5_rows task 0",
                      "_t5_rows task 1"]
    assert all(tuple(row) == bench.ROW_FIELDS for row in report["rows"])
    assert {"machine", "date"} <= set(report)
    json.dumps(report)  # the report is written as JSON


def test_a_row_missing_a_field_is_refused_by_name():
    with pytest.raises(ValueError, match="missing \\['steps'\\]"):
        bench._row(**{k: v for k, v in _fake_row("x").items() if k not in ("steps", "verdict")})


@pytest.mark.parametrize("changes, verdict", [
    ({}, "beats the baseline"),
    ({"interval": {"difference": 0.1, "low": -0.01, "high": 0.2}}, "no measurable difference"),
    ({"score": 0.4, "interval": {"difference": -0.1, "low": -0.2, "high": -0.05}}, "below the baseline"),
    ({"metric": "perplexity", "higher_is_better": False, "score": 400.0, "baseline_score": 750.0, "interval": None},
     "beats the baseline (no interval)"),
    ({"metric": "perplexity", "higher_is_better": False, "score": 1364.6, "baseline_score": 1251.2, "interval": None},
     "below the baseline (no interval)"),
])
def test_the_verdict_follows_the_interval_or_the_direction_of_the_metric(changes, verdict):
    assert _fake_row("m", **changes)["verdict"] == verdict


def test_tiny_models_markdown_shows_each_row_with_its_digits():
    report = {"machine": "x86_64, 2 cores", "date": "2026-01-01", "rows": [
        _fake_row("small T5: outlet"),
        _fake_row("biLM", metric="perplexity", higher_is_better=False, score=412.64, baseline_score=751.8,
                  interval=None, parameters=2061896, train_seconds=None),
    ]}
    lines = bench.tiny_models_markdown(report).splitlines()
    assert "x86_64, 2 cores, 2026-01-01" in lines[0]
    header = lines[2].split("|")[1:-1]
    t5, bilm = (dict(zip([h.strip() for h in header], [c.strip() for c in line.split("|")[1:-1]])) for line in lines[4:6])
    assert len(lines) == 6 and lines[3].count("|") == lines[2].count("|")
    assert t5["model score"] == "0.600" and t5["difference [95% interval]"] == "+0.100 [+0.050, +0.150]"
    assert t5["training CPU s"] == "12" and t5["training steps"] == "300 Adam steps"
    assert bilm["model score"] == "412.6" and bilm["baseline score"] == "751.8"
    assert bilm["difference [95% interval]"] == "n/a" and bilm["training CPU s"] == "n/a"
    assert bilm["parameters"] == "2,061,896" and bilm["verdict"] == "beats the baseline (no interval)"


def test_main_writes_the_tiny_models_report(monkeypatch, tmp_path):
    report = {"machine": "m", "date": "d", "rows": [_fake_row("GloVe")]}
    monkeypatch.setattr(bench, "bench_tiny_models", lambda: report)
    monkeypatch.setattr(bench, "bench_word2vec", lambda: pytest.fail("tiny-models must not run the word2vec bench"))
    assert bench.main(["tiny-models", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "tiny-models.json").read_text()) == report
    assert (tmp_path / "tiny-models.md").read_text() == bench.tiny_models_markdown(report)


def _value(node, namespace):
    """A keyword argument of a chapter's call: a literal, a name the function's module defines, or its source."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        if isinstance(node, ast.Name) and hasattr(namespace, node.id):
            return getattr(namespace, node.id)
        return f"<{ast.unparse(node)}>"  # a variable of the chapter: such a call matches no settings of the bench


def _chapter_calls(chapter, function):
    """The keyword arguments of every call of ``function`` in the code cells of ``book/<chapter>.ipynb``."""
    import nbformat

    nb = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
    calls = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == function:
                calls.append(node)
    return calls


@pytest.mark.parametrize("name", sorted(bench.CHAPTER_CALLS))
def test_the_bench_makes_the_calls_its_chapters_make(name):
    chapter, function, kwargs = bench.CHAPTER_CALLS[name]
    modules = {"news_skipgram": "word2vec", "ppmi_svd_vectors": "cooccurrence", "news_glove": "glove",
               "news_bilm": "elmo", "small_news_bert": "masked_lm", "fixed_mask": "masked_lm",
               "news_tiny_gpt": "causal_lm", "text_passages": "causal_lm", "news_rt_t5": "text_to_text", "generate_text": "text_to_text"}
    namespace = importlib.import_module(f"companion.{modules[function]}")
    calls = _chapter_calls(chapter, function)
    assert calls, f"book/{chapter}.ipynb no longer calls {function}"
    found = [{k.arg: _value(k.value, namespace) for k in call.keywords} for call in calls]
    assert kwargs in found, f"book/{chapter}.ipynb calls {function} with {found}, the bench with {kwargs}"


def test_the_sgns_row_trains_with_the_chapter_settings_and_scores_against_ppmi_svd(monkeypatch):
    import companion.cooccurrence
    import companion.word2vec
    from companion.datasets import wordsim353
    from companion.vectors import keyed_vectors

    pairs = wordsim353()
    words = sorted(set(pairs["word1"]) | set(pairs["word2"]))
    rng = np.random.default_rng(0)
    good = keyed_vectors(words, rng.normal(size=(len(words), 8)))
    ppmi = keyed_vectors(words[::-1], rng.normal(size=(len(words), 8)))  # another order, random: rho about 0
    seen = {}

    def news_skipgram(**kwargs):
        seen["sgns"] = kwargs
        history = pd.DataFrame({"epoch": [1, 2], "pairs": [10, 25], "lr": [0.02, 0.01], "loss": [3.0, 2.0]})
        history.attrs["train_seconds"] = 7.5
        return good, history

    def ppmi_svd_vectors(**kwargs):
        seen["ppmi"] = kwargs
        return ppmi

    monkeypatch.setattr(companion.word2vec, "news_skipgram", news_skipgram)
    monkeypatch.setattr(companion.cooccurrence, "ppmi_svd_vectors", ppmi_svd_vectors)
    row = bench._sgns_row()
    assert seen == {"sgns": bench.CHAPTER_CALLS["sgns"][2], "ppmi": bench.CHAPTER_CALLS["ppmi_svd"][2]}
    assert row["steps"] == 25 and row["train_seconds"] == 7.5 and row["parameters"] == 2 * len(words) * 8
    assert row["interval"]["low"] <= row["interval"]["difference"] <= row["interval"]["high"]
    assert row["interval"]["difference"] == pytest.approx(row["score"] - row["baseline_score"], abs=2e-3)
    assert f"{len(pairs)} pairs" in row["held_out"]


def test_the_mlm_row_scores_the_chapters_held_out_mask_against_the_unigram(monkeypatch):
    import torch
    from transformers import ModernBertForMaskedLM

    import companion.masked_lm as masked_lm

    texts = [f"the {a} bank said {b} rates would {c} on {d} ." for a in ("central", "big", "state")
             for b in ("interest", "mortgage", "loan") for c in ("rise", "fall") for d in ("monday", "thursday")]
    tokenizer = masked_lm.wordpiece_bert_tokenizer(texts, vocab_size=80)
    blocks = masked_lm.pack_blocks(texts, tokenizer, block_size=16)
    torch.manual_seed(0)
    model = ModernBertForMaskedLM(masked_lm.small_modernbert_config(tokenizer, hidden_size=8, num_layers=1,
                                                                    num_heads=2, max_length=16)).eval()
    log_p = masked_lm.unigram_log_probs(blocks, tokenizer)
    history = {"held_out_ids": blocks, "unigram_log_probs": log_p, "eval_probability": 0.3, "train_loss": [5.0] * 7,
               "batch_size": 4, "held_out_blocks": len(blocks), "held_out_articles": 3, "train_seconds": 2.25}
    seen, real_fixed_mask = {}, masked_lm.fixed_mask

    def small_news_bert(**kwargs):
        seen["model"] = kwargs
        return tokenizer, model, history

    def fixed_mask(*args, **kwargs):
        seen["mask"] = (args[1:], kwargs)
        seen["masked"] = real_fixed_mask(*args, **kwargs)
        return seen["masked"]

    monkeypatch.setattr(masked_lm, "small_news_bert", small_news_bert)
    monkeypatch.setattr(masked_lm, "fixed_mask", fixed_mask)
    row = bench._mlm_row()
    assert seen["model"] == bench.CHAPTER_CALLS["mlm"][2]
    assert seen["mask"] == ((tokenizer, 0.3), bench.CHAPTER_CALLS["mlm_fixed_mask"][2])
    inputs, labels = seen["masked"]
    chosen = labels != -100
    assert (inputs[chosen] == tokenizer.mask_token_id).all()  # every held-out target is a [MASK]
    with torch.no_grad():  # the library's full forward pass, not the companion's scoring
        loss = torch.nn.functional.cross_entropy(model(input_ids=inputs).logits[chosen].double(), labels[chosen])
    unigram = -log_p[labels[chosen]].mean().item()
    assert row["score"] == pytest.approx(np.exp(loss.item()), abs=0.051)
    assert row["baseline_score"] == pytest.approx(np.exp(unigram), abs=0.051)
    ci = row["interval"]
    assert ci["ratio"] and ci["low"] <= ci["difference"] <= ci["high"]
    assert ci["difference"] == pytest.approx(np.exp(loss.item() - unigram), abs=0.006)
    # an untrained model spreads its guesses over the vocabulary; the training frequencies do better
    assert ci["low"] > 1 and row["verdict"] == "below the baseline"
    assert row["parameters"] == sum(p.numel() for p in model.parameters()) and row["steps"] == 7
    assert row["train_seconds"] == 2.2 or row["train_seconds"] == 2.3
    assert f"{int(chosen.sum()):,} masked positions (30%" in row["held_out"]


def test_a_ratio_interval_is_shown_as_a_ratio_and_judged_against_one():
    better = _fake_row("m", metric="perplexity", higher_is_better=False, score=600.0, baseline_score=850.0,
                       interval={"difference": 0.7, "low": 0.68, "high": 0.71, "ratio": True})
    same = _fake_row("m", metric="perplexity", higher_is_better=False, score=600.0, baseline_score=610.0,
                     interval={"difference": 0.98, "low": 0.9, "high": 1.05, "ratio": True})
    assert better["verdict"] == "beats the baseline" and same["verdict"] == "no measurable difference"
    line = bench.tiny_models_markdown({"machine": "m", "date": "d", "rows": [better]}).splitlines()[-1]
    assert "| ratio 0.70 [0.68, 0.71] |" in line
