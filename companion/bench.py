"""Benchmarks of the book's from-scratch trainers against their library twins.

``python -m companion.bench word2vec`` trains the companion's skip-gram
(:func:`companion.word2vec.train_skipgram`) and gensim's ``Word2Vec``
(:func:`companion.word2vec.gensim_skipgram`) on the news corpus with the same
settings (gensim's defaults) and the same number of threads (one: gensim is
only repeatable with one worker, and our numba loop runs on one), then writes
``reports/bench-word2vec.json`` and ``reports/bench-word2vec.md``: words per
second for each (corpus tokens times epochs, divided by the training wall
time, the same definition for both), their ratio, and the WordSim-353,
SimLex-999 and Google-analogy scores of each. The README shows the Markdown
table. It is a benchmark, not a timed test: the numbers depend on the machine
and on what else runs on it.

``python -m companion.bench tiny-models`` scores every model the book trains
from scratch (SGNS, GloVe, the biLM, the small BERT, the tiny GPT and the small
T5) on held-out data against the baseline its chapter compares it with, through
the same companion functions and settings as the chapters
(:data:`CHAPTER_CALLS`; cached models are loaded, not retrained), and writes
``reports/tiny-models.json`` and ``reports/tiny-models.md``: per model the
held-out score, the baseline's, their difference with a paired bootstrap
interval where the chapter computes one, the parameters, the training steps
and the training CPU seconds recorded when the model was trained.
``python -m companion.bench all`` (``make bench``) runs both benchmarks.

Explained in the chapters "Word2Vec" (``book/word2vec.ipynb``) and, for the
models of the table, in the chapter each row names.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

__all__ = ["bench_word2vec", "bench_tiny_models", "tiny_models_markdown", "CHAPTER_CALLS", "main"]

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {"dim": 100, "window": 5, "negative": 5, "epochs": 5, "min_count": 5, "sample": 1e-3, "seed": 0}  # gensim's defaults


def _scores(kv) -> dict:
    from .datasets import google_analogies, simlex999, wordsim353
    from .evaluation import analogy_accuracy, word_similarity

    ws = word_similarity(kv, wordsim353())
    sl = word_similarity(kv, simlex999())
    an = analogy_accuracy(kv, google_analogies(), method="3cosadd")
    return {
        "wordsim353": round(ws["spearman"], 3),
        "simlex999": round(sl["spearman"], 3),
        "analogies": round(an["accuracy"], 3),
        "wordsim353_pairs": ws["pairs_used"],
        "analogy_questions": an["questions_used"],
    }


def bench_word2vec(settings: dict | None = None) -> dict:
    """Train both skip-grams on the news corpus with ``settings``; return the report as a dict."""
    from .datasets import news_tokens
    from .word2vec import gensim_skipgram, train_skipgram

    settings = {**SETTINGS, **(settings or {})}
    docs = news_tokens()
    tokens = sum(len(doc) for doc in docs)
    start = time.perf_counter()
    train_skipgram([["compile", "the", "loop"]] * 2, dim=4, epochs=1, min_count=1)  # numba compiles on first call
    compile_seconds = time.perf_counter() - start
    runs = {}
    for name, train in (("companion (numba)", lambda: train_skipgram(docs, **settings)[0]),
                        ("gensim", lambda: gensim_skipgram(docs, **settings))):
        start = time.perf_counter()
        kv = train()
        seconds = time.perf_counter() - start
        runs[name] = {"seconds": round(seconds, 1), "words_per_second": round(tokens * settings["epochs"] / seconds),
                      **_scores(kv)}
    ours, theirs = runs["companion (numba)"], runs["gensim"]
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "corpus_tokens": tokens,
        "threads": 1,
        "numba_compile_seconds": round(compile_seconds, 1),
        "settings": settings,
        "runs": runs,
        "speed_ratio": round(ours["words_per_second"] / theirs["words_per_second"], 2),
        "wordsim353_gap": round(abs(ours["wordsim353"] - theirs["wordsim353"]), 3),
    }


def report_markdown(report: dict) -> str:
    s = report["settings"]
    lines = [
        f"Skip-gram, news corpus ({report['corpus_tokens']:,} tokens), dim {s['dim']}, window {s['window']}, "
        f"{s['negative']} negatives, {s['epochs']} epochs, min_count {s['min_count']}, sample {s['sample']:g}, "
        f"{report['threads']} thread each; {report['machine']}, {report['date']}. "
        f"Our loop is compiled by numba once per process, before the run ({report['numba_compile_seconds']:.1f} s).",
        "",
        "| trainer | seconds | words/s | WS353 | SimLex | analogies |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, run in report["runs"].items():
        lines.append(f"| {name} | {run['seconds']:.1f} | {run['words_per_second']:,} | {run['wordsim353']:.3f} | "
                     f"{run['simlex999']:.3f} | {run['analogies']:.3f} |")
    lines += ["", f"Speed ratio (companion / gensim): {report['speed_ratio']:.2f}; "
              f"WordSim-353 gap: {report['wordsim353_gap']:.3f}."]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the book's tiny models

#: The calls of the chapters behind each row of the tiny-models table: name -> (chapter, function, keyword
#: arguments). The bench makes the same calls; tests/test_bench.py checks that each chapter still makes them.
CHAPTER_CALLS: dict[str, tuple[str, str, dict]] = {
    "sgns": ("word2vec", "news_skipgram", {}),
    "ppmi_svd": ("word2vec", "ppmi_svd_vectors", {"dim": 100, "window": 5, "min_count": 10, "power": 0.5}),
    "glove": ("glove", "news_glove", {"dim": 50, "window": 5, "min_count": 10, "epochs": 10, "lr": 0.2,
                                      "batch_size": 32768, "x_max": 100, "alpha": 0.75, "initial_accumulator": 0.0,
                                      "seed": 0}),
    "bilm": ("elmo", "news_bilm", {}),
    "mlm": ("bert-family", "small_news_bert", {}),
    "mlm_fixed_mask": ("bert-family", "fixed_mask", {"seed": 1}),
    "gpt": ("gpt-family", "news_tiny_gpt", {}),
    "gpt_passages": ("gpt-family", "text_passages", {"n_chars": 250, "max_passages": 100}),
    "t5": ("t5", "news_rt_t5", {}),
    "t5_outlet_decoding": ("t5", "generate_text", {"max_new_tokens": 8}),
}

#: The fields of every row of the tiny-models report.
ROW_FIELDS = ("model", "chapter", "trainer", "held_out", "metric", "higher_is_better", "score", "baseline",
              "baseline_score", "interval", "verdict", "parameters", "steps", "step_unit", "train_seconds",
              "seconds_source")


def _kwargs(name: str) -> dict:
    return dict(CHAPTER_CALLS[name][2])


def _verdict(score: float, baseline_score: float, higher_is_better: bool, interval: dict | None) -> str:
    """Whether the model beats its baseline: by the interval of the difference if there is one, else by the scores."""
    if interval is not None:  # interval of score - baseline, or of score / baseline if it says "ratio"
        same = 1.0 if interval.get("ratio") else 0.0
        if interval["low"] <= same <= interval["high"]:
            return "no measurable difference"
        better = (interval["low"] > same) == higher_is_better
    else:
        better = (score > baseline_score) == higher_is_better
    return ("beats the baseline" if better else "below the baseline") + ("" if interval is not None else " (no interval)")


def _row(**fields) -> dict:
    """One row of the report: the fields of :data:`ROW_FIELDS` but ``verdict``, which it adds."""
    needed = [f for f in ROW_FIELDS if f != "verdict"]
    missing, extra = [f for f in needed if f not in fields], sorted(set(fields) - set(needed))
    if missing or extra:
        raise ValueError(f"a tiny-models row needs the fields {needed}; missing {missing}, unknown {extra}")
    seconds = fields["train_seconds"]
    fields = {**fields, "train_seconds": None if seconds is None else round(float(seconds), 1),
              "verdict": _verdict(fields["score"], fields["baseline_score"], fields["higher_is_better"],
                                  fields["interval"])}
    return {f: fields[f] for f in ROW_FIELDS}


def _wordsim_against_ppmi_svd(kv, name: str) -> dict:
    """WordSim-353 Spearman of ``kv`` and of the chapters' PPMI-SVD on their shared words, as ``compare_pair`` gives it."""
    from .cooccurrence import ppmi_svd_vectors
    from .datasets import wordsim353
    from .evaluation import compare_pair, shared_vocabulary

    shared = shared_vocabulary({name: kv, "PPMI-SVD": ppmi_svd_vectors(**_kwargs("ppmi_svd"))})
    table = compare_pair(shared[name], shared["PPMI-SVD"], names=(name, "PPMI-SVD"),
                         benchmarks={"WordSim-353": wordsim353()})
    row = table.loc["WordSim-353"]
    return {"held_out": f"WordSim-353, {int(row['items'])} pairs of the {len(shared[name]):,} words both know",
            "metric": "Spearman rho", "higher_is_better": True, "score": round(float(row[name]), 3),
            "baseline": f"PPMI-SVD ({_kwargs('ppmi_svd')['dim']} dims, same corpus)", "baseline_score": round(float(row["PPMI-SVD"]), 3),
            "interval": {k: round(float(row[k]), 3) for k in ("difference", "low", "high")}}


def _sgns_row() -> dict:
    """Word2Vec chapter: ``news_skipgram()`` against PPMI-SVD on WordSim-353 (the chapter's comparison)."""
    from .word2vec import news_skipgram

    kv, history = news_skipgram(**_kwargs("sgns"))
    return _row(model="SGNS (skip-gram, negative sampling)", chapter="word2vec",
                trainer="companion.word2vec.news_skipgram", **_wordsim_against_ppmi_svd(kv, "SGNS"),
                parameters=2 * len(kv) * kv.vector_size,  # input and output vectors
                steps=int(history["pairs"].iloc[-1]), step_unit="SGD updates (one per pair)",
                train_seconds=history.attrs.get("train_seconds"),
                seconds_source="history.attrs['train_seconds']: CPU seconds of the training thread")


def _glove_row() -> dict:
    """GloVe chapter: ``news_glove(...)`` against the PPMI-SVD its prose compares it with, on WordSim-353."""
    import math

    from .cooccurrence import news_counts
    from .glove import news_glove, nonzero_cells

    settings = _kwargs("glove")
    kv, history = news_glove(**settings)
    _, counts, _ = news_counts(settings["window"], settings["min_count"], "harmonic")
    cells = len(nonzero_cells(counts[1:, 1:])[2])
    return _row(model="GloVe", chapter="glove", trainer="companion.glove.news_glove",
                **_wordsim_against_ppmi_svd(kv, "GloVe"),
                parameters=2 * len(kv) * kv.vector_size + 2 * len(kv),  # w, w~ and the two biases
                steps=settings["epochs"] * math.ceil(cells / settings["batch_size"]),
                step_unit=f"AdaGrad steps (batches of {settings['batch_size']:,} cells)",
                train_seconds=history.attrs.get("train_seconds"),
                seconds_source="history.attrs['train_seconds']: CPU seconds of the training thread")


def _bilm_row() -> dict:
    """ELMo chapter: ``news_bilm()``'s held-out perplexity (forward LM) against the unigram baseline."""
    from .elmo import news_bilm

    model, _, history = news_bilm(**_kwargs("bilm"))
    return _row(model="biLM (ELMo-style, 2 LSTM layers)", chapter="elmo", trainer="companion.elmo.news_bilm",
                held_out=f"{history['held_out_blocks']} blocks of {history['block_size']} words from "
                         f"{history['held_out_articles']} held-out articles, forward LM",
                metric="perplexity", higher_is_better=False, score=round(history["forward_perplexity"][-1], 1),
                baseline="unigram (training frequencies)", baseline_score=round(history["unigram_perplexity"], 1),
                interval=None, parameters=sum(p.numel() for p in model.parameters()),
                steps=len(history["train_loss"]), step_unit=f"Adam steps (batches of {history['batch_size']} blocks)",
                train_seconds=history.get("train_seconds"),
                seconds_source="history.json 'train_seconds': CPU seconds of the training loop")


def _mlm_row() -> dict:
    """BERT chapter: ``small_news_bert()``'s held-out masked-token perplexity against the unigram, as the chapter scores it.

    The chapter's evaluation: one fixed mask of the held-out blocks (``fixed_mask`` with the
    history's ``eval_probability``, seed 1, every target a ``[MASK]``), scored position by
    position (``masked_token_scores``) and by the training-frequency guess
    (``unigram_log_probs``); perplexities with a bootstrap over blocks, and the ratio small
    BERT / unigram with a paired bootstrap of the difference of mean cross-entropies (its
    log). The row's interval is that ratio (``"ratio": True``: no difference is 1).
    """
    import numpy as np

    from .masked_lm import fixed_mask, masked_token_scores, small_news_bert
    from .uncertainty import bootstrap_interval, paired_bootstrap

    tokenizer, model, history = small_news_bert(**_kwargs("mlm"))
    held_out, log_p = history["held_out_ids"], history["unigram_log_probs"]
    inputs, labels = fixed_mask(held_out, tokenizer, history["eval_probability"], **_kwargs("mlm_fixed_mask"))
    scores = masked_token_scores(model, inputs, labels)
    model_loss, unigram_loss = scores["loss"], -log_p[scores["target"]].numpy()
    rows = np.unique(scores["row"], return_inverse=True)[1]  # the bootstrap resamples blocks, as the chapter's

    def per_block(values):  # (sum over the block's targets, number of targets)
        return np.stack([np.bincount(rows, weights=values), np.bincount(rows)], axis=1)

    def per_target(block_rows):
        return block_rows[:, 0].sum() / block_rows[:, 1].sum()

    ours, unigram = per_block(model_loss), per_block(unigram_loss)
    score = bootstrap_interval(ours, statistic=lambda r: np.exp(per_target(r)))["estimate"]
    baseline = bootstrap_interval(unigram, statistic=lambda r: np.exp(per_target(r)))["estimate"]
    log_ratio = paired_bootstrap(ours, unigram, statistic=per_target)
    return _row(model="small BERT (ModernBERT encoder, masked LM)", chapter="bert-family",
                trainer="companion.masked_lm.small_news_bert",
                held_out=f"{len(scores['loss']):,} masked positions ({history['eval_probability']:.0%}, all [MASK]) of "
                         f"{history['held_out_blocks']} blocks from {history['held_out_articles']} held-out articles",
                metric="masked-token perplexity", higher_is_better=False, score=round(float(score), 1),
                baseline="unigram (training frequencies)", baseline_score=round(float(baseline), 1),
                interval={"difference": round(float(np.exp(log_ratio["difference"])), 2),
                          "low": round(float(np.exp(log_ratio["low"])), 2),
                          "high": round(float(np.exp(log_ratio["high"])), 2), "ratio": True},
                parameters=sum(p.numel() for p in model.parameters()),
                steps=len(history["train_loss"]), step_unit=f"AdamW steps (batches of {history['batch_size']} blocks)",
                train_seconds=history["train_seconds"],
                seconds_source="history.json 'train_seconds': CPU seconds of the training loop")


def _gpt_row() -> dict:
    """GPT chapter: ``news_tiny_gpt()``'s perplexity on held-out passages against the unigram model."""
    import math

    from .causal_lm import (NEWS_GPT_ARTICLES, news_split, news_tiny_gpt, text_log_likelihood, text_passages,
                            unigram_log_likelihood)

    model, tokenizer, history = news_tiny_gpt(**_kwargs("gpt"))
    train_texts, heldout_texts = news_split()
    passages = text_passages(heldout_texts, **_kwargs("gpt_passages"))
    ours = text_log_likelihood(model, tokenizer, passages)
    unigram = unigram_log_likelihood(tokenizer, train_texts[:NEWS_GPT_ARTICLES], passages)
    return _row(model="tiny GPT (GPT-2, 2 layers)", chapter="gpt-family", trainer="companion.causal_lm.news_tiny_gpt",
                held_out=f"{len(passages)} passages of held-out articles ({ours['tokens']:,} tokens)",
                metric="perplexity per token", higher_is_better=False,
                score=round(math.exp(ours["nll"] / ours["tokens"]), 1), baseline="unigram (add-one, same tokens)",
                baseline_score=round(math.exp(unigram["nll"] / unigram["tokens"]), 1), interval=None,
                parameters=history["n_parameters"], steps=len(history["train_loss"]),
                step_unit=f"AdamW steps (batches of {history['batch_size']} blocks)",
                train_seconds=history["cpu_seconds"],
                seconds_source="history.json 'cpu_seconds': CPU seconds of tokenizer and model training")


def _t5_rows() -> list[dict]:
    """T5 chapter: ``news_rt_t5()`` on its two tasks against their trivial baselines, as the chapter scores them.

    Sentiment: constrained decoding on the Rotten Tomatoes test split against the majority class; outlet: free
    (greedy) decoding on the held-out articles against the most frequent outlet of the training articles.
    """
    import numpy as np
    import pandas as pd

    from .datasets import rotten_tomatoes_split
    from .text_to_text import (LABEL_WORDS, _news_split, generate_text, label_scores, news_rt_t5, outlet_examples,
                               sentiment_examples)
    from .uncertainty import paired_bootstrap

    model, tokenizer, history = news_rt_t5(**_kwargs("t5"))
    input_tokens = history["input_tokens"]
    shared = dict(chapter="t5", trainer="companion.text_to_text.news_rt_t5", metric="accuracy", higher_is_better=True,
                  parameters=sum(p.numel() for p in model.parameters()), steps=history["steps"],
                  step_unit=f"AdamW steps (batches of {history['batch_size']} pairs of both tasks)",
                  train_seconds=history["training_cpu_seconds"],
                  seconds_source="history.json 'training_cpu_seconds': CPU seconds of the training loop")
    reviews_train, reviews_test = rotten_tomatoes_split()
    inputs = [p[0] for p in sentiment_examples(reviews_test, tokenizer, input_tokens)]
    y_true = reviews_test["label"].to_numpy()
    predicted = label_scores(model, tokenizer, inputs, [LABEL_WORDS[0], LABEL_WORDS[1]]).argmax(axis=1)
    majority = int(reviews_train["label"].mode()[0])
    right, right_base = predicted == y_true, np.full(len(y_true), majority) == y_true

    news_train, news_held_out = _news_split(history["held_out_articles"])
    held_out = outlet_examples(news_held_out, tokenizer, input_tokens)
    outlet_true = np.array([p[1] for p in held_out])
    outlet_free = np.array(generate_text(model, tokenizer, [p[0] for p in held_out], **_kwargs("t5_outlet_decoding")))
    most_frequent = pd.Series([p[1] for p in outlet_examples(news_train, tokenizer, input_tokens)]).value_counts().index[0]
    outlet_right, outlet_base = outlet_free == outlet_true, np.full(len(outlet_true), most_frequent) == outlet_true

    def interval(a, b):
        return {k: round(v, 3) for k, v in paired_bootstrap(a, b).items()}

    return [
        _row(model="small T5: sentiment", held_out=f"Rotten Tomatoes test split, {len(y_true):,} snippets "
                                                   "(constrained decoding)",
             score=round(float(right.mean()), 3), baseline="majority class", baseline_score=round(float(right_base.mean()), 3),
             interval=interval(right, right_base), **shared),
        _row(model="small T5: outlet", held_out=f"{len(outlet_true)} held-out news articles (free decoding)",
             score=round(float(outlet_right.mean()), 3), baseline="most frequent outlet",
             baseline_score=round(float(outlet_base.mean()), 3), interval=interval(outlet_right, outlet_base), **shared),
    ]


def bench_tiny_models() -> dict:
    """Score every model the book trains against its chapter's baseline; return the report as a dict."""
    import gc

    from .reproducibility import torch_threads

    rows = []
    with torch_threads(1):  # as the trainers: small models, busy machines
        for make in (_sgns_row, _glove_row, _bilm_row, _mlm_row, _gpt_row, _t5_rows):
            made = make()
            rows += made if isinstance(made, list) else [made]
            gc.collect()  # one model in memory at a time
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "rows": rows,
    }


def _number(value, digits: int | None = None) -> str:
    if value is None:
        return "n/a"
    if digits is None:
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def tiny_models_markdown(report: dict) -> str:
    """The Markdown table of :func:`bench_tiny_models`'s report."""
    lines = [
        f"Each model the book trains, on held-out data, against the baseline its chapter compares it with; "
        f"{report['machine']}, {report['date']}. Difference = model - baseline (or, where it says ratio, "
        "model / baseline) with a 95% paired bootstrap interval where the chapter computes one. Seconds: training "
        "CPU seconds recorded when the model was trained (cached models are loaded, not retrained).",
        "",
        "| model | chapter | held-out data | metric | model score | baseline | baseline score | difference [95% interval] "
        "| verdict | parameters | training steps | training CPU s |",
        "|---|---|---|---|---:|---|---:|---|---|---:|---:|---:|",
    ]
    for row in report["rows"]:
        digits = 1 if "perplexity" in row["metric"] else 3
        ci = row["interval"]
        if ci is None:
            difference = "n/a"
        elif ci.get("ratio"):
            difference = f"ratio {ci['difference']:.2f} [{ci['low']:.2f}, {ci['high']:.2f}]"
        else:
            difference = f"{ci['difference']:+.{digits}f} [{ci['low']:+.{digits}f}, {ci['high']:+.{digits}f}]"
        lines.append(
            f"| {row['model']} | {row['chapter']} | {row['held_out']} | {row['metric']} | "
            f"{_number(row['score'], digits)} | {row['baseline']} | {_number(row['baseline_score'], digits)} | "
            f"{difference} | {row['verdict']} | {_number(row['parameters'])} | "
            f"{_number(row['steps'])} {row['step_unit']} | {_number(row['train_seconds'], 0)} |")
    return "\n".join(lines) + "\n"


def _write(out: Path, stem: str, report: dict, markdown: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{stem}.md").write_text(markdown)
    print(markdown)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the book's trainers: word2vec against its library twin "
                                                 "(word2vec), every trained model against its baseline (tiny-models).")
    parser.add_argument("benchmark", choices=["word2vec", "tiny-models", "all"], help="which benchmark to run")
    parser.add_argument("--out", type=Path, default=ROOT / "reports", help="folder for the JSON and Markdown reports")
    args = parser.parse_args(argv)
    if args.benchmark in ("word2vec", "all"):
        report = bench_word2vec()
        _write(args.out, "bench-word2vec", report, report_markdown(report))
    if args.benchmark in ("tiny-models", "all"):
        report = bench_tiny_models()
        _write(args.out, "tiny-models", report, tiny_models_markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
