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

Explained in the chapter "Word2Vec" (``book/word2vec.ipynb``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

__all__ = ["bench_word2vec", "main"]

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark a from-scratch trainer against its library twin.")
    parser.add_argument("trainer", choices=["word2vec"], help="which trainer to benchmark")
    parser.add_argument("--out", type=Path, default=ROOT / "reports", help="folder for the JSON and Markdown report")
    args = parser.parse_args(argv)
    report = bench_word2vec()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench-word2vec.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = report_markdown(report)
    (args.out / "bench-word2vec.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
