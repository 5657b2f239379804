"""How the CLI shows times and queries to people: `0:03.4`, `3.4 s`, and each word of a query
beside the term it searched for."""

from __future__ import annotations

from catalog.analysis import word_terms

SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600


def clock(seconds: float) -> str:
    """A position in a video: `0:03.4`, `12:07.0`, `1:02:03.5` (tenths of a second)."""
    tenths = round(max(seconds, 0.0) * 10)
    whole, tenth = divmod(tenths, 10)
    hours, rest = divmod(whole, SECONDS_PER_HOUR)
    minutes, secs = divmod(rest, SECONDS_PER_MINUTE)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}.{tenth}"
    return f"{minutes}:{secs:02d}.{tenth}"


def span(start: float, end: float) -> str:
    return f"{clock(start)}-{clock(end)}"


def spans(segments: list[list[float]] | list[tuple[float, float]]) -> str:
    return ", ".join(span(start, end) for start, end in segments) or "-"


def duration(seconds: float) -> str:
    """A length of time: `3.4 s`, `2 min 05 s`."""
    if seconds < SECONDS_PER_MINUTE:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), SECONDS_PER_MINUTE)
    return f"{minutes} min {secs:02d} s"


def query_words(text: str) -> str:
    """What was typed beside what it searched for: `ice [ic], cream; ignored: the`."""
    shown, ignored = [], []
    for word, term in dict.fromkeys(word_terms(text)):
        if term is None:
            ignored.append(word)
        else:
            shown.append(word if term == word else f"{word} [{term}]")
    line = ", ".join(shown) or "-"
    return line + (f"; ignored: {', '.join(ignored)}" if ignored else "")
