"""`smarttags train`: one classifier per business tag, from the assets people tagged by hand.

Scope: assets under the folder whose smart tags are enabled and that were indexed. A tag's
positives are the assets that carry it as a manual or promoted tag (and not removed); its
negatives are all other assets in scope. Features come from the embedding cache (see
indexer/custom_features.py and indexer/custom_tags.py); the classifier, metrics, threshold
and coherence are explained in indexer/custom_model.py.

Status of a tag: fewer than custom_min_positives_to_fit positives (or fewer than two
negatives): `not trained`, nothing can be fitted; fewer than custom_min_examples:
`needs more examples` (metrics are still reported); else `trained` when the cross-validated
F1 reaches custom_min_f1, `not trained` otherwise. Only `trained` tags are applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from catalog.asset import Asset, normalize_folder, normalize_tag, utc_now
from catalog.settings import Settings
from catalog.store import AssetStore
from catalog.training_runs import (
    Clock,
    Progress,
    TagReport,
    TagStatus,
    TrainingRecord,
    claim_run,
    quiet,
    recorded,
    save_record,
)
from indexer.classifiers import Classifiers, save_classifiers
from indexer.custom_features import FeatureError, FeatureSource
from indexer.custom_model import Evaluation, LinearModel, can_fit, coherence, cross_validate, fit
from indexer.custom_scope import assets_in_scope, labelled_tags
from indexer.custom_tags import asset_feature
from indexer.engine import TaggingEngine


def train(
    settings: Settings,
    store: AssetStore,
    engine: TaggingEngine,
    folder: str | None = "",
    tags: Iterable[str] | None = None,
    progress: Progress | None = None,
    now: Clock = utc_now,
) -> TrainingRecord:
    """Train, store the run (see catalog/training_runs.py) and return its record."""
    run_id, _ = claim_run(settings)
    record = TrainingRecord(
        run=run_id,
        started=now().isoformat(),
        folder=normalize_folder(folder),
        tags_requested=sorted({normalize_tag(t) for t in tags or ()}),
    )
    with recorded(record, lambda: save_record(settings, record), now):
        _train_into(record, settings, store, engine, progress or quiet)
    return record


def _train_into(
    record: TrainingRecord,
    settings: Settings,
    store: AssetStore,
    engine: TaggingEngine,
    progress: Progress,
) -> None:
    scope = assets_in_scope(store, settings, record.folder)
    record.model_id = engine.model_id
    source = FeatureSource(settings, engine)
    assets, features = _features(scope.assets, source, record, progress)
    names = record.tags_requested or sorted(set().union(*map(labelled_tags, scope.assets)))
    examples = Examples(assets, [labelled_tags(a) for a in assets], features)
    models: dict[str, tuple[LinearModel, float]] = {}
    for name in names:
        progress(len(scope.assets), len(scope.assets), f"training {name!r}")
        row, model = train_tag(name, examples, settings)
        record.tags.append(row)
        if model is not None and row.status == TagStatus.trained:
            models[name] = (model, row.threshold or 0.0)
    save_classifiers(settings, record.run, _stacked(models, features.shape[1]))
    record.counts = {
        "assets": len(scope.assets),
        "skipped": scope.skipped,
        "embedded": source.embedded,
        "cached": source.cached,
        "errors": len(record.errors),
        "tags": len(record.tags),
        "trained": len(models),
    }


def _features(
    assets: list[Asset], source: FeatureSource, record: TrainingRecord, progress: Progress
) -> tuple[list[Asset], np.ndarray]:
    usable: list[Asset] = []
    rows: list[np.ndarray] = []
    for done, asset in enumerate(assets):
        progress(done, len(assets), asset.path)
        try:
            frames, _ = source.frames(asset)
        except FeatureError as exc:
            record.errors.append({"id": asset.id, "path": asset.path, "reason": str(exc)})
            continue
        usable.append(asset)
        rows.append(asset_feature(frames))
    progress(len(assets), len(assets), "")
    dim = rows[0].shape[0] if rows else 0
    return usable, np.stack(rows) if rows else np.zeros((0, dim), np.float32)


@dataclass(frozen=True)
class Examples:
    assets: list[Asset]
    tags: list[set[str]]  # each asset's labelled tags
    features: np.ndarray  # one unit row per asset


def train_tag(
    name: str, examples: Examples, settings: Settings
) -> tuple[TagReport, LinearModel | None]:
    """One tag's report row, and its classifier when one could be fitted."""
    labels = np.array([name in tags for tags in examples.tags], dtype=bool)
    positives = int(labels.sum())
    features = examples.features
    evaluation: Evaluation | None = None
    model: LinearModel | None = None
    if can_fit(labels, settings):
        evaluation = cross_validate(features, labels, settings)
        model = fit(features, labels, settings)
    row = TagReport(
        tag=name,
        positives=positives,
        negatives=len(labels) - positives,
        small_images=sum(
            1
            for a, positive in zip(examples.assets, labels, strict=True)
            if positive and is_small(a, settings)
        ),
        precision=evaluation.precision if evaluation else None,
        recall=evaluation.recall if evaluation else None,
        f1=evaluation.f1 if evaluation else None,
        threshold=evaluation.threshold if evaluation else None,
        coherence=coherence(features[labels], features),
        status=tag_status(positives, evaluation, settings),
    )
    return row, model


def tag_status(positives: int, evaluation: Evaluation | None, settings: Settings) -> str:
    # fewer examples than the guideline is what a user can act on, whatever the metrics say
    if positives < settings.custom_min_examples:
        return TagStatus.needs_more
    if evaluation is None:  # enough positives, but too few negatives to learn from
        return TagStatus.not_trained
    return TagStatus.trained if evaluation.f1 >= settings.custom_min_f1 else TagStatus.not_trained


def is_small(asset: Asset, settings: Settings) -> bool:
    """Longer side under custom_small_image_px (an example too small to show much detail)."""
    if asset.width is None or asset.height is None:
        return False
    return max(asset.width, asset.height) < settings.custom_small_image_px


def _stacked(models: dict[str, tuple[LinearModel, float]], dim: int) -> Classifiers:
    if not models:
        return Classifiers.empty(dim)
    names = sorted(models)
    return Classifiers(
        tags=names,
        weights=np.stack([models[n][0].weights for n in names]).astype(np.float32),
        bias=np.array([models[n][0].bias for n in names], dtype=np.float32),
        thresholds=np.array([models[n][1] for n in names], dtype=np.float64),
    )
