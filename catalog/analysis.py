"""Text analysis shared by indexing and querying, identical for every backend.

Analysis runs once, here, in Python: lowercase (casefold), accents folded, split on anything
that is not a letter or digit, English stop words dropped, Porter stemming (the algorithm of
SQLite's `porter` tokenizer and OpenSearch's `porter_stem`). Both stores index these tokens as
they are, so a term means the same thing in SQLite and in OpenSearch.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

MAX_TOKEN_CHARS = 64

# Lucene's English stop set, plus the fragments a possessive or contraction leaves behind.
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
        "s",
        "t",
    ]
)

_WORD = re.compile(r"[^\W_]+")
_POSSESSIVE = re.compile(r"['’]s\b", re.IGNORECASE)
_STEMMER = Stemmer.Stemmer("porter")


def _fold(text: str) -> str:
    if text.isascii():
        # NFKD leaves ASCII as it is, it has no combining marks, and casefold() == lower() there
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.casefold()


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _STEMMER.stemWord(word)


def analyze(text: str) -> list[str]:
    """Tokens of `text` in order, duplicates kept."""
    words = _WORD.findall(_fold(_POSSESSIVE.sub("", text)))
    return [_stem(w[:MAX_TOKEN_CHARS]) for w in words if w not in STOP_WORDS]


def analyze_unique(text: str) -> list[str]:
    """Distinct tokens of `text` in first-seen order."""
    return list(dict.fromkeys(analyze(text)))


@lru_cache(maxsize=65_536)
def tag_tokens(name: str) -> tuple[str, ...]:
    """`analyze_unique` of a tag name, cached: a library repeats a few thousand tag names."""
    return tuple(analyze_unique(name))


def word_terms(text: str) -> list[tuple[str, str | None]]:
    """Each word as typed (folded) and the term it searches for; None for a stop word."""
    words = _WORD.findall(_fold(_POSSESSIVE.sub("", text)))
    return [(w, None if w in STOP_WORDS else _stem(w[:MAX_TOKEN_CHARS])) for w in words]
