"""The book's one tokenizer and one vocabulary type.

Every chapter that turns raw text into word tokens calls :func:`tokenize`, and
every chapter that maps tokens to integer ids uses :class:`Vocabulary`. Subword
tokenizers (BPE, WordPiece) are a different object and get their own chapter.

The tokenizer lower-cases, then keeps runs of letters (of any alphabet, so
``são`` stays one word) and digits, allowing an inner apostrophe or hyphen
(``don't``, ``well-known``). Everything else
(punctuation, symbols) separates tokens. It is deliberately simple, so that a
reader can predict its output; it matches the lower-cased vocabulary of GloVe
6B well enough for the book's purposes.

Explained in the chapter "Text as numbers" (``book/text-as-numbers.ipynb``);
first used in "A first tour of the book".

Examples
--------
>>> from companion.text import tokenize, Vocabulary
>>> tokenize("The U.S. economy didn't grow -- well-known fact!")
['the', 'u', 's', 'economy', "didn't", 'grow', 'well-known', 'fact']
>>> vocab = Vocabulary.build([["a", "b", "a"], ["c", "a"]], min_count=1)
>>> vocab.tokens
['<unk>', 'a', 'b', 'c']
>>> vocab.encode(["a", "zebra"])
[1, 0]
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence

__all__ = ["tokenize", "Vocabulary", "UNK"]

UNK = "<unk>"
_TOKEN = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")  # letters (any alphabet) and digits


def tokenize(text: str) -> list[str]:
    """Split ``text`` into lower-cased word tokens (see the module docstring)."""
    if not isinstance(text, str):
        raise TypeError(f"tokenize expects a str, got {type(text).__name__}: {text!r:.80}")
    return [t.replace("’", "'") for t in _TOKEN.findall(text.lower())]


class Vocabulary:
    """A mapping between tokens and integer ids, built from token counts.

    Id 0 is the unknown token ``<unk>``; the other tokens follow in order of
    decreasing count, ties broken alphabetically, so the same corpus always
    gives the same ids. Tokens seen fewer than ``min_count`` times, or beyond
    the ``max_size`` most frequent, map to ``<unk>``.
    """

    def __init__(self, counts: Counter, min_count: int = 1, max_size: int | None = None):
        if not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be a positive integer, got {min_count!r}")
        if max_size is not None and (not isinstance(max_size, int) or max_size < 1):
            raise ValueError(f"max_size must be a positive integer or None, got {max_size!r}")
        self.counts = Counter(counts)
        kept = sorted(
            ((tok, c) for tok, c in self.counts.items() if c >= min_count and tok != UNK),
            key=lambda item: (-item[1], item[0]),
        )
        if max_size is not None:
            kept = kept[:max_size]
        self.tokens: list[str] = [UNK] + [tok for tok, _ in kept]
        self.index: dict[str, int] = {tok: i for i, tok in enumerate(self.tokens)}
        self.min_count = min_count

    @classmethod
    def build(cls, documents: Iterable[Sequence[str]], min_count: int = 1, max_size: int | None = None) -> "Vocabulary":
        """Count the tokens of tokenized ``documents`` and build a vocabulary."""
        counts: Counter = Counter()
        for doc in documents:
            if isinstance(doc, str):
                raise TypeError("Vocabulary.build expects tokenized documents (lists of tokens), got a str; call tokenize() first")
            counts.update(doc)
        return cls(counts, min_count=min_count, max_size=max_size)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    def __getitem__(self, token: str) -> int:
        return self.index.get(token, 0)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of ``tokens``; unknown tokens become 0."""
        return [self.index.get(t, 0) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids``; raises ``IndexError`` naming a bad id."""
        out = []
        for i in ids:
            if not 0 <= int(i) < len(self.tokens):
                raise IndexError(f"id {i} is outside this vocabulary (valid ids: 0..{len(self.tokens) - 1})")
            out.append(self.tokens[int(i)])
        return out

    def frequencies(self) -> list[int]:
        """Counts of the kept tokens in id order (``<unk>`` gets the count of all dropped tokens)."""
        dropped = sum(c for t, c in self.counts.items() if t not in self.index)
        return [dropped] + [self.counts[t] for t in self.tokens[1:]]

    def __repr__(self) -> str:
        return f"Vocabulary(size={len(self)}, min_count={self.min_count})"
