"""Text as the insight scorers see it: one normalised document per case, words and shingles.

Pure functions only. The same document is built for training, live suggestions and batch runs,
so a model never sees text shaped differently from what it learned on.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from functools import cache, lru_cache

# Long complaints say what they are about early; the tail adds noise and time.
MAX_DOC_CHARS = 600
# A title says more per character than a description: it is counted twice.
TITLE_WEIGHT = 2

_SPACE = re.compile(r"\s+")


@cache
def _lcut() -> Callable[[str], list[str]]:
    """jieba's cut, imported on first use: the API and the workers import this module, most of
    them never to cut a word, and jieba costs memory and start-up time in each."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    lcut: Callable[[str], list[str]] = jieba.lcut
    return lcut


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), lower case, one space between words."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


def document(title: str, description: str) -> str:
    """The text a classifier reads for a case: the title twice, then the description's start."""
    title, description = normalise(title), normalise(description)
    return " ".join([title] * TITLE_WEIGHT + [description])[:MAX_DOC_CHARS]


def words(text: str) -> list[str]:
    """Words of Chinese (jieba, its shipped dictionary) and of other scripts, without spaces."""
    return [w for w in _lcut()(text) if w.strip()]


@lru_cache(maxsize=50_000)
def _cached_words(text: str) -> tuple[str, ...]:
    return tuple(w for w in _lcut()(text) if w.strip())


def cached_words(text: str) -> list[str]:
    """``words`` remembered: cross-validation and retraining cut the same texts again and again."""
    return list(_cached_words(text))


def shingles(text: str, size: int = 2) -> frozenset[str]:
    """Overlapping character n-grams of the text without spaces and punctuation."""
    chars = "".join(c for c in normalise(text) if c.isalnum())
    if len(chars) < size:
        return frozenset([chars]) if chars else frozenset()
    return frozenset(chars[i : i + size] for i in range(len(chars) - size + 1))


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """How alike two shingle sets are: shared ÷ the smaller set (1.0: one contains the other)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Shared ÷ all shingles."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


@lru_cache(maxsize=65_536)
def cached_shingles(text: str) -> frozenset[str]:
    """``shingles`` of a text seen often: a candidate case's title, and the start of its title and
    description, come back with every case taken in near it (a few MB for the whole cache)."""
    return shingles(text)
