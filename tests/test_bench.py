from companion.bench import report_markdown


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
