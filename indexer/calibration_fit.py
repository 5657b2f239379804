"""Fitting the calibration (indexer/calibration.py) of one model on labelled examples.

A label says whether a tag of the model's vocabularies is in an asset (`present`). The asset's
confidence for the tag is what tagging computes: per scored unit (frame, or action window) the
logistic ``1 / (1 + exp(-(z - center) / scale))`` of the label's robust z-score, then the mean
of the k best units. The logistic is increasing, so the k best units are those of the highest
z whatever (center, scale): they are picked once, and the fit minimises the log loss of the
labels over (center, scale) alone (scipy's bounded L-BFGS-B, from the current values).

The expected calibration error (ECE) says how far confidences are from frequencies: the
examples are put in `calibration_bins` equal-width confidence bins, and ECE is the mean over
examples of |share present in its bin - mean confidence in its bin|. It is reported before and
after the fit, on the same examples.

Embeddings come from the embedding cache (by content hash); a file with none is decoded and
encoded once, and its embeddings are cached for the next run (and for indexing).
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from catalog.asset import Asset, MediaType, TagKind, normalize_tag, utc_now
from catalog.settings import Settings
from catalog.tag_thresholds import verdict_of
from indexer.calibration import Calibration, calibration_for, robust_z_scores
from indexer.engine import TaggingEngine
from indexer.frames import iter_frames
from indexer.probe import probe
from indexer.tagger import unit_similarities

_TRUE = {"1", "true", "yes", "y", "present"}
_FALSE = {"0", "false", "no", "n", "absent"}
_HEADER = ("path", "tag", "present")
_EPS = 1e-6  # log loss: confidences are kept this far from 0 and 1
CENTER_BOUNDS = (-20.0, 20.0)
SCALE_BOUNDS = (0.05, 20.0)
TITLE_CHARS = 60  # a model key longer than this (a checkpoint path) is shown by its end


class CalibrationError(ValueError):
    """The labels cannot be fitted (the message says why)."""


@dataclass(frozen=True)
class Label:
    tag: str
    present: bool
    path: Path | None = None  # a file (labels from a CSV)
    asset: Asset | None = None  # an asset of the catalog (labels from curation)

    @property
    def key(self) -> str:
        return self.asset.id if self.asset is not None else str(self.path)


def read_labels(path: Path, library_root: Path) -> tuple[list[Label], list[str]]:
    """Rows `path,tag,present` (a header row of those names is allowed; paths relative to
    the library root or absolute; present: 1/0, true/false, yes/no). Returns the labels and
    one line per row left out."""
    labels: list[Label] = []
    problems: list[str] = []
    with open(path, newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            cells = [cell.strip() for cell in row]
            if line == 1 and tuple(c.lower() for c in cells) == _HEADER:
                continue
            try:
                labels.append(_label_of(cells, library_root))
            except ValueError as exc:
                problems.append(f"line {line}: {exc}")
    return labels, problems


def _label_of(cells: list[str], library_root: Path) -> Label:
    if len(cells) != len(_HEADER):
        raise ValueError(f"expected 3 columns (path,tag,present), found {len(cells)}")
    where, name, present = cells
    flag = present.lower()
    if flag not in _TRUE | _FALSE:
        raise ValueError(f"present must be 1/0, true/false or yes/no, not {present!r}")
    file = Path(where).expanduser()
    file = file if file.is_absolute() else library_root / file
    if not file.is_file():
        raise ValueError(f"{file} is not a file")
    return Label(normalize_tag(name), flag in _TRUE, path=file)


def curation_labels(assets: Iterable[Asset]) -> list[Label]:
    """Verdicts of curation as labels: a removed machine tag is absent, a promoted one or a
    manual one the machine proposed is present (catalog/tag_thresholds.py)."""
    labels = []
    for asset in assets:
        curated = {*asset.removed_tags, *asset.manual_tags, *asset.promoted_tags}
        for tag in asset.smart_tags:
            verdict = verdict_of(asset, tag.tag) if tag.tag in curated else None
            if verdict is not None and tag.kind is not TagKind.custom:
                labels.append(Label(tag.tag, verdict.positive, asset=asset))
    return labels


@dataclass(frozen=True)
class _Embedded:
    frames: np.ndarray
    stamps: list[float]
    duration_s: float | None
    media_type: MediaType


def _embedded(engine: TaggingEngine, label: Label) -> _Embedded:
    """The asset's frame embeddings: cached, else decoded and encoded (and cached)."""
    asset = label.asset
    if asset is not None and asset.content_hash:
        cached = engine.cached_embeddings(asset.content_hash)
        if cached is not None:
            return _Embedded(cached[0], cached[1], asset.duration_s, asset.media_type)
    path = label.path
    if path is None:
        assert asset is not None
        root = Path(asset.library_root) if asset.library_root else engine.settings.library_dir
        path = root / asset.path
    found = probe(path, engine.settings)
    digest = engine.content_hash(path)
    cached = engine.cached_embeddings(digest)
    if cached is None:
        frames = list(iter_frames(path, found, engine.settings, engine.image_size))
        size = engine.settings.encode_batch_size
        batches = [frames[i : i + size] for i in range(0, len(frames), size)]
        vectors = np.concatenate([engine.encode([f.rgb for f in batch]) for batch in batches])
        stamps = [f.timestamp_s for f in frames]
        cached = (engine.store_embeddings(digest, vectors, stamps), stamps)
    return _Embedded(cached[0], list(cached[1]), found.duration_s, found.media_type)


@dataclass
class Scored:
    """Per labelled example, the robust z-scores of its tag on the k best units."""

    top_z: list[np.ndarray] = field(default_factory=list)
    present: list[bool] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.present)


def _top_units(settings: Settings, count: int) -> int:
    wanted = math.ceil(settings.tag_topk_fraction * count)
    return min(count, max(settings.tag_topk_min, min(wanted, settings.tag_topk_max)))


def score_labels(
    engine: TaggingEngine,
    labels: list[Label],
    progress: Callable[[int, int], Any] | None = None,
) -> Scored:
    """The z-scores the fit needs; labels of unknown tags or unreadable files are skipped."""
    where = {
        normalize_tag(name): (vocabulary, index)
        for vocabulary in engine.vocabularies
        for index, name in enumerate(vocabulary.labels)
    }
    by_asset: dict[str, list[Label]] = {}
    scored = Scored()
    for label in labels:
        if label.tag not in where:
            scored.skipped.append(f"{label.key}: {label.tag!r} is in no vocabulary of the model")
        else:
            by_asset.setdefault(label.key, []).append(label)
    for done, (key, group) in enumerate(by_asset.items(), start=1):
        try:
            embedded = _embedded(engine, group[0])
        except Exception as exc:  # one bad file must not stop the fit
            scored.skipped += [f"{key}: {type(exc).__name__}: {exc}" for _ in group]
            continue
        for label in group:
            vocabulary, index = where[label.tag]
            similarities = unit_similarities(
                embedded.frames,
                embedded.stamps,
                embedded.duration_s,
                embedded.media_type,
                vocabulary,
                engine.settings,
            )
            z = robust_z_scores(similarities)[:, index]
            k = _top_units(engine.settings, len(z))
            scored.top_z.append(np.sort(z)[::-1][:k])
            scored.present.append(label.present)
        if progress is not None:
            progress(done, len(by_asset))
    return scored


def confidences(scored: Scored, calibration: Calibration) -> np.ndarray:
    """The confidence tagging gives each example under `calibration`."""
    return np.array(
        [
            float(np.mean(1.0 / (1.0 + np.exp(-(z - calibration.center) / calibration.scale))))
            for z in scored.top_z
        ]
    )


def log_loss(probabilities: np.ndarray, present: np.ndarray) -> float:
    p = np.clip(probabilities, _EPS, 1 - _EPS)
    return float(-np.mean(np.where(present, np.log(p), np.log(1 - p))))


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int
    confidence: float  # mean confidence of its examples (nan when empty)
    frequency: float  # share of its examples where the tag is present (nan when empty)


def reliability(probabilities: np.ndarray, present: np.ndarray, bins: int) -> list[Bin]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        mean = float(probabilities[inside].mean()) if count else float("nan")
        share = float(present[inside].mean()) if count else float("nan")
        out.append(Bin(float(edges[b]), float(edges[b + 1]), count, mean, share))
    return out


def expected_calibration_error(bins: list[Bin]) -> float:
    total = sum(b.count for b in bins)
    if not total:
        return 0.0
    return sum(b.count * abs(b.frequency - b.confidence) for b in bins if b.count) / total


@dataclass(frozen=True)
class Quality:
    calibration: Calibration
    ece: float
    log_loss: float
    bins: list[Bin]


@dataclass(frozen=True)
class FitReport:
    model_key: str
    examples: int
    positives: int
    skipped: list[str]
    before: Quality
    after: Quality

    def to_json(self) -> dict[str, Any]:
        def quality(q: Quality) -> dict[str, Any]:
            return {
                "center": q.calibration.center,
                "scale": q.calibration.scale,
                "ece": q.ece,
                "log_loss": q.log_loss,
                "bins": [
                    {
                        "low": b.low,
                        "high": b.high,
                        "count": b.count,
                        "confidence": None if b.count == 0 else b.confidence,
                        "frequency": None if b.count == 0 else b.frequency,
                    }
                    for b in q.bins
                ],
            }

        return {
            "model": self.model_key,
            "examples": self.examples,
            "positives": self.positives,
            "skipped": self.skipped,
            "before": quality(self.before),
            "after": quality(self.after),
        }


def model_key(settings: Settings) -> str:
    """The `tag_calibration` key a fit is written under: the model and its weights."""
    return f"{settings.model}/{settings.pretrained}"


def _quality(scored: Scored, calibration: Calibration, bins: int) -> Quality:
    present = np.array(scored.present)
    probabilities = confidences(scored, calibration)
    table = reliability(probabilities, present, bins)
    return Quality(
        calibration, expected_calibration_error(table), log_loss(probabilities, present), table
    )


def fit(scored: Scored, settings: Settings) -> FitReport:
    """(center, scale) of least log loss on the examples, from the current calibration."""
    from scipy.optimize import minimize  # scikit-learn's dependency, in the indexer extra

    present = np.array(scored.present)
    positives = int(present.sum())
    if len(scored) < settings.calibration_min_labels or positives in (0, len(scored)):
        raise CalibrationError(
            f"{len(scored)} usable labels, {positives} present: a fit needs at least "
            f"{settings.calibration_min_labels} (SMARTTAGS_CALIBRATION_MIN_LABELS), with tags "
            "both present and absent"
        )
    current = calibration_for(settings)
    width = max(len(z) for z in scored.top_z)
    z = np.full((len(scored), width), np.nan)
    for row, values in enumerate(scored.top_z):
        z[row, : len(values)] = values
    counts = np.sum(~np.isnan(z), axis=1)

    def loss(params: np.ndarray) -> float:
        center, scale = params
        units = 1.0 / (1.0 + np.exp(-(z - center) / scale))
        probabilities = np.nansum(units, axis=1) / counts
        return log_loss(probabilities, present)

    result = minimize(
        loss,
        np.array([current.center, current.scale]),
        method="L-BFGS-B",
        bounds=[CENTER_BOUNDS, SCALE_BOUNDS],
    )
    fitted = Calibration(center=float(result.x[0]), scale=float(result.x[1]))
    bins = settings.calibration_bins
    return FitReport(
        model_key(settings),
        len(scored),
        positives,
        scored.skipped,
        _quality(scored, current, bins),
        _quality(scored, fitted, bins),
    )


def write_calibration(report: FitReport, settings: Settings, source: str) -> Path:
    """Record the fitted (center, scale) in the calibration file Settings merges, keeping
    the other models' entries; written atomically."""
    path = settings.calibration_path
    data: dict[str, Any] = {"tag_calibration": {}, "fits": {}}
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
    after = report.after
    data.setdefault("tag_calibration", {})[report.model_key] = [
        after.calibration.center,
        after.calibration.scale,
    ]
    data.setdefault("fits", {})[report.model_key] = {
        "fitted_at": utc_now().isoformat().replace("+00:00", "Z"),
        "source": source,
        "examples": report.examples,
        "positives": report.positives,
        "ece_before": report.before.ece,
        "ece_after": after.ece,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".calibration-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2)
    os.replace(temporary, path)
    return path


def plot_reliability(report: FitReport, path: Path) -> None:
    """The reliability diagram (frequency against confidence per bin, before and after the
    fit) as a PNG. Needs matplotlib (the `plot` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise CalibrationError("--plot needs matplotlib: pip install 'smarttags[plot]'") from None
    figure, (diagram, counts) = pyplot.subplots(
        2, 1, figsize=(6, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    diagram.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect calibration")
    for name, quality, style in (("before", report.before, "o--"), ("after", report.after, "s-")):
        shown = [b for b in quality.bins if b.count]
        diagram.plot(
            [b.confidence for b in shown],
            [b.frequency for b in shown],
            style,
            label=f"{name}: center {quality.calibration.center:.2f}, scale "
            f"{quality.calibration.scale:.2f}, ECE {quality.ece:.3f}",
        )
        middles = [(b.low + b.high) / 2 for b in quality.bins]
        offset = -0.012 if name == "before" else 0.012
        counts.bar(
            [m + offset for m in middles],
            [b.count for b in quality.bins],
            width=0.024,
            label=name,
        )
    diagram.set(ylabel="share of examples with the tag", xlim=(0, 1), ylim=(0, 1))
    model = report.model_key if len(report.model_key) <= TITLE_CHARS else (
        "…" + report.model_key[-TITLE_CHARS:]
    )
    diagram.set_title(f"{model}\n{report.examples} labelled examples", fontsize="medium")
    diagram.legend(loc="upper left", fontsize="small")
    counts.set(xlabel="confidence", ylabel="examples")
    counts.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
