"""Companion package of the book *Word embeddings, from one-hot vectors to LLMs*.

Every chapter starts with::

    import companion
    companion.setup()

and then calls the helpers it needs from the modules below, each named after
the concept it implements and each explained in one chapter of the book:

- :mod:`companion.text`: the one tokenizer and the one :class:`Vocabulary` type;
- :mod:`companion.vectors`: the one vector-lookup type (gensim ``KeyedVectors``);
- :mod:`companion.datasets`: the offline corpora and benchmarks;
- :mod:`companion.ngrams`, :mod:`companion.tfidf`: bag-of-words, n-grams and TF-IDF from scratch;
- :mod:`companion.sentiment`: the Rotten Tomatoes baseline and classifier scores;
- :mod:`companion.uncertainty`: bootstrap intervals (one system, or two on the same items) and McNemar's exact test;
- :mod:`companion.sentence_vectors`: averaged word vectors and cached MiniLM sentence embeddings;
- :mod:`companion.translation`: translation matrices and Procrustes between embedding spaces, few-shot translation with Gemma, chrF from scratch;
- :mod:`companion.retrieval`: BM25 (matches rank_bm25), TF-IDF and MiniLM cosine retrieval, reciprocal rank fusion, recall@k and MRR;
- :mod:`companion.ner`: BIO tags and spans, entity-level F1 (checked against seqeval), the hand-labelled NER set, token features for probes;
- :mod:`companion.summarization`: sentence splitting, lead/centroid/TextRank summaries, PageRank, ROUGE from scratch, TL;DR prompting;
- :mod:`companion.bias`: WEAT with permutation p-values and the hard-debias projection;
- :mod:`companion.alignment`: orthogonal Procrustes and word translation accuracy;
- :mod:`companion.bench`: ``python -m companion.bench word2vec``;
- :mod:`companion.cooccurrence`: co-occurrence counts, PMI/PPMI and SVD word vectors;
- :mod:`companion.evaluation`: word similarity and analogy benchmarks with coverage;
- :mod:`companion.word2vec`: skip-gram with negative sampling from scratch, beside gensim;
- :mod:`companion.glove`: GloVe's weighted least squares with AdaGrad, from scratch;
- :mod:`companion.word_map`: an interactive map of word vectors (PCA to 2-D, hover, search; Bokeh, offline);
- :mod:`companion.subwords`: fastText character n-grams, BPE from scratch, BPE/WordPiece tokenizers;
- :mod:`companion.elmo`: ELMo's biLM (an LSTM from scratch beside torch's), ScalarMix, layer-wise ELMo vectors;
- :mod:`companion.attention`: attention, positional encodings and the Transformer block;
- :mod:`companion.masked_lm`: BERT's masking and a small masked language model;
- :mod:`companion.contextual`: token vectors by layer, pooling, anisotropy;
- :mod:`companion.causal_lm`: a tiny GPT trained on the news corpus, perplexity against a unigram baseline, token neighbours, layer cosines and the logit lens;
- :mod:`companion.decoding`: greedy, temperature, top-k and nucleus decoding, batched seeded generation, distinct-n and repetition rate; training compute;
- :mod:`companion.prompting`: few-shot classification with a causal LM: prompts, demonstrations, label-word scores;
- :mod:`companion.finetuning`: frozen MiniLM embeddings vs top-layer, LoRA (from scratch and peft) and full fine-tuning;
- :mod:`companion.leaderboard`: an offline mini-MTEB, ``evaluate(model, tasks)`` and ``python -m companion.leaderboard``;
- :mod:`companion.scale`: training compute and memory, data-parallel training with ``torch.distributed``;
- :mod:`companion.text_to_text`: T5's span corruption, task prefixes and a small text-to-text model trained from scratch;
- :mod:`companion.models`: GloVe, MiniLM and spaCy loaders; :mod:`companion.gemma`: Gemma 3 270M;
- :mod:`companion.assets`: where each model and data set lies, checksums, licences;
- :mod:`companion.cache`: the one cache of derived artifacts;
- :mod:`companion.offline`: the offline default and the hub opt-in;
- :mod:`companion.cpu_dispatch`: the one numeric environment (pinned SIMD kernels);
- :mod:`companion.kernel`: ``python -m companion.kernel --install`` installs the book's Jupyter kernel, which carries it;
- :mod:`companion.reproducibility`: :func:`setup`;
- :mod:`companion.cards`: ``python -m companion.cards`` writes the *Data and models* page;
- :mod:`companion.diagrams`: the architecture figures (skip-gram, ELMo, attention, Transformer blocks, T5, LoRA), ``python -m companion.diagrams --write book/figures``;
- :mod:`companion.profiling`: ``python -m companion.profiling`` times every chapter;
- :mod:`companion.memory`: freed memory goes back to the operating system after every cell.

Importing the package pins the CPU dispatch of NumPy, OpenBLAS and PyTorch
(:func:`companion.cpu_dispatch.pin`, before either library loads) and sets the
Hugging Face offline variables (unless the reader opted in to the hub with
``COMPANION_ALLOW_HUB=1``); with ``COMPANION_BLOCK_NETWORK=1`` in the environment
it also turns on the network guard (:func:`companion.offline.block_network`).
"""

from .cpu_dispatch import pin

pin()  # first, before anything below loads NumPy or PyTorch

from .offline import block_network_if_asked, enforce_offline_defaults  # noqa: E402

enforce_offline_defaults()
block_network_if_asked()  # COMPANION_BLOCK_NETWORK=1 (the test suite): no network in this process either

from .reproducibility import setup  # noqa: E402

__version__ = "0.1.0"
__all__ = ["setup", "__version__"]
