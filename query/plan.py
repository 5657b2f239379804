"""A search request and the query plan both backends compile from."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from catalog.analysis import analyze_unique
from catalog.asset import MediaType, TagKind, normalize_folder
from catalog.effective import quantize
from catalog.settings import Settings
from catalog.store import SemanticStage
from catalog.tag_thresholds import Thresholds


class InvalidQuery(ValueError):
    """The request cannot be answered as asked (the message says why)."""


class SearchMode(StrEnum):
    hybrid = "hybrid"  # the term tiers, then tier 4: assets similar in meaning, no term matching
    keyword = "keyword"  # the term tiers only
    semantic = "semantic"  # similarity in meaning alone


@dataclass(frozen=True)
class SearchRequest:
    text: str = ""
    folder: str | None = None
    media_type: MediaType | None = None
    kinds: tuple[TagKind, ...] = ()
    limit: int | None = None
    offset: int = 0
    mode: SearchMode | None = None  # None: settings.search_mode


@dataclass(frozen=True)
class QueryPlan:
    terms: tuple[str, ...]
    folder: str  # '' = whole library
    media_type: str | None
    kinds: tuple[str, ...]  # empty = every kind
    limit: int
    offset: int
    thresholds: dict[str, float]  # per kind
    manual_weight: float
    promote_boost: float
    field_weights: dict[str, int]
    total_cap: int  # totals are exact up to this many hits, a lower bound beyond
    notices: tuple[str, ...] = field(default=())
    matches_nothing: bool = False  # the text had words, but none searchable
    # learned per-tag thresholds of the tags the terms can match: they replace the kind's
    tag_thresholds: dict[str, float] = field(default_factory=dict)
    semantic: SemanticStage | None = None  # tier 4 or the whole search (query/semantic.py)
    weight_quantum: int = 256  # tag weights are multiples of 1/quantum: tier 3 scores >= that

    @property
    def browse(self) -> bool:
        return not self.terms and not self.matches_nothing

    @property
    def tier2_base(self) -> float:
        """G: a power of two above any tag score, so tier gaps survive float32 sums."""
        top = len(self.terms) * max(1.0, self.manual_weight, self.promote_boost)
        return float(2 ** math.ceil(math.log2(top + 1)))

    @property
    def text_unit(self) -> float:
        """Each point of text relevance is worth 2G: it outranks G + any tag score."""
        return 2 * self.tier2_base

    def threshold(self, tag: str, kind: str) -> float:
        """The confidence a machine tag needs: its own where learned, else its kind's."""
        return self.tag_thresholds.get(tag, self.thresholds[kind])

    def tag_weight(
        self, tag: str, source: str, kind: str, confidence: float, weight: float
    ) -> float:
        """The weight a tag contributes, or 0 when it may not match under this plan."""
        if self.kinds and kind not in self.kinds:
            return 0.0
        if source == "promoted":
            return self.promote_boost
        if source == "manual":
            return self.manual_weight
        return weight if confidence >= self.threshold(tag, kind) else 0.0


def build_plan(
    request: SearchRequest, settings: Settings, thresholds: Thresholds | None = None
) -> QueryPlan:
    """`thresholds`: the kind thresholds and the learned ones (default: the settings'
    kind thresholds alone)."""
    if len(request.text) > settings.max_query_chars:
        raise InvalidQuery(f"query is longer than {settings.max_query_chars} characters")
    limit = settings.default_page_size if request.limit is None else request.limit
    if not 1 <= limit <= settings.max_page_size:
        raise InvalidQuery(f"limit must be between 1 and {settings.max_page_size}")
    window = settings.max_result_window
    if not 0 <= request.offset < window:
        raise InvalidQuery(
            f"offset must be below {window}: only the first {window} results can be paged; "
            "narrow the search with a folder, type or kind filter"
        )
    notices: list[str] = []
    if request.offset + limit > window:
        # the page is cut at the window rather than refused: every request the schema allows
        # (offset < window, limit <= max page) is answered
        limit = window - request.offset
        notices.append(f"this page ends at result {window}, the last that can be paged")
    try:
        folder = normalize_folder(request.folder)
    except ValueError as exc:
        raise InvalidQuery(f"folder: {exc}") from None
    terms = analyze_unique(request.text)
    if request.text.strip() and not terms:
        notices.append("the query has no searchable words (only stop words or punctuation)")
    if len(terms) > settings.max_query_terms:
        notices.append(f"only the first {settings.max_query_terms} distinct words were used")
        terms = terms[: settings.max_query_terms]
    thresholds = thresholds or Thresholds.defaults(settings)
    return QueryPlan(
        terms=tuple(terms),
        folder=folder,
        media_type=request.media_type.value if request.media_type else None,
        kinds=tuple(sorted({k.value for k in request.kinds})),
        limit=limit,
        offset=request.offset,
        thresholds=dict(thresholds.kinds),
        # boosts in steps of the weight quantum keep float32 sums (OpenSearch) exact
        manual_weight=quantize(settings.manual_tag_weight, settings.weight_quantum),
        promote_boost=quantize(settings.promote_boost, settings.weight_quantum),
        field_weights=settings.field_weights,
        total_cap=settings.max_exact_total,
        weight_quantum=settings.weight_quantum,
        notices=tuple(notices),
        matches_nothing=bool(request.text.strip()) and not terms,
        tag_thresholds=thresholds.for_terms(terms),
    )
