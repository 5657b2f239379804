"""`smarttags calibrate`: labels in, a fitted calibration out, the expected calibration error
before and after; on synthetic z-scores and, end to end, on generated image families with a
tiny real open_clip model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from catalog.audit import ModerationAction
from catalog.curation import moderate
from catalog.settings import Settings
from catalog.sqlite_store import SqliteStore
from indexer.calibration import Calibration, calibration_for
from indexer.calibration_fit import (
    CalibrationError,
    Scored,
    confidences,
    expected_calibration_error,
    fit,
    read_labels,
    reliability,
)
from indexer.engine import TaggingEngine
from indexer.pipeline import IndexRun
from indexer.scan import scan
from smarttags.cli import cli
from tests.image_families import write_family
from tests.tiny_model import tiny_settings

FAMILIES = {
    "red_circles": "red circles",
    "blue_stripes": "blue stripes",
    "checkerboard": "checkerboard",
    "green_noise": "green noise",
}
SETTING_NAMES = (
    "model",
    "pretrained",
    "inference_runtime",
    "inference_precision",
    "inference_threads",
    "object_vocabulary",
    "tag_storage_floor",
    "max_tags_per_asset",
)


def _scored(rng: np.random.Generator, count: int) -> Scored:
    """Images (one unit each): present labels stand about 5 robust deviations out, absent 1."""
    present = rng.random(count) < 0.4
    z = np.where(present, rng.normal(5.0, 0.8, count), rng.normal(1.0, 0.8, count))
    return Scored(top_z=[np.array([v]) for v in z], present=list(present))


def test_a_fit_on_separable_scores_lowers_the_calibration_error():
    settings = Settings(tag_calibration={"default": (7.0, 0.3)})  # a prior far off
    scored = _scored(np.random.default_rng(0), 400)
    report = fit(scored, settings)
    assert report.before.calibration == Calibration(7.0, 0.3)
    assert report.after.ece < report.before.ece / 3
    assert report.after.log_loss < report.before.log_loss
    assert 1.0 < report.after.calibration.center < 5.0  # between the two groups
    fresh = _scored(np.random.default_rng(1), 400)  # and on examples it never saw
    present = np.array(fresh.present)
    table = reliability(confidences(fresh, report.after.calibration), present, 10)
    assert expected_calibration_error(table) < report.before.ece / 3


def test_a_fit_needs_labels_of_both_kinds():
    scored = Scored(top_z=[np.array([3.0])] * 30, present=[True] * 30)
    with pytest.raises(CalibrationError, match="both present and absent"):
        fit(scored, Settings())


def test_label_rows_name_files_tags_and_verdicts(tmp_path):
    (tmp_path / "lib" / "a").mkdir(parents=True)
    photo = tmp_path / "lib" / "a" / "x.png"
    photo.write_bytes(b"not read here")
    rows = [
        "path,tag,present",
        "a/x.png,Red Circles,1",
        f"{photo},blue stripes,no",
        "",
        "a/missing.png,dog,1",
        "a/x.png,dog,maybe",
        "a/x.png,dog",
    ]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    labels, problems = read_labels(tmp_path / "labels.csv", tmp_path / "lib")
    assert [(lab.path, lab.tag, lab.present) for lab in labels] == [
        (photo, "red circles", True),
        (photo, "blue stripes", False),
    ]
    assert [p.split(":")[0] for p in problems] == ["line 5", "line 6", "line 7"]
    assert "not a file" in problems[0] and "present must be" in problems[1]


@pytest.fixture(scope="module")
def families(tmp_path_factory) -> tuple[Settings, Path, Path]:
    """Images of four families, a vocabulary naming them among filler labels, the labels."""
    tmp = tmp_path_factory.mktemp("calibrate")
    vocabulary = tmp / "objects.txt"
    fillers = [f"filler {i}" for i in range(60)]
    vocabulary.write_text("\n".join([*FAMILIES.values(), *fillers]) + "\n")
    settings = tiny_settings(tmp, object_vocabulary=vocabulary)
    rows = ["path,tag,present"]
    for family, label in FAMILIES.items():
        for path in write_family(tmp / "lib" / family, family, 10, seed=5):
            rel = path.relative_to(tmp / "lib")
            rows += [f"{rel},{other},{int(other == label)}" for other in FAMILIES.values()]
    (tmp / "labels.csv").write_text("\n".join(rows) + "\n")
    return settings, tmp / "lib", tmp / "labels.csv"


def _env(settings: Settings) -> dict[str, str]:
    return {f"SMARTTAGS_{n.upper()}": str(getattr(settings, n)) for n in SETTING_NAMES}


def test_calibrating_on_image_families_lowers_the_calibration_error(families, tmp_path):
    settings, library, labels = families
    data = settings.model_copy(update={"data_dir": tmp_path / "data"})
    plot = tmp_path / "reliability.png"
    args = ["--data-dir", str(data.data_dir), "calibrate", "--labels", str(labels)]
    args += ["--library-root", str(library), "--plot", str(plot), "--json"]
    done = CliRunner().invoke(cli, args, env=_env(settings))
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert (report["examples"], report["positives"], report["skipped"]) == (160, 40, [])
    assert report["after"]["ece"] < report["before"]["ece"]
    assert report["after"]["log_loss"] < report["before"]["log_loss"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    fitted = (report["after"]["center"], report["after"]["scale"])
    key = report["model"]
    assert key == f"{settings.model}/{settings.pretrained}"
    reread = Settings(**{n: getattr(settings, n) for n in SETTING_NAMES}, data_dir=data.data_dir)
    assert reread.tag_calibration[key] == pytest.approx(fitted)
    assert calibration_for(reread) == Calibration(*fitted)
    assert reread.tag_calibration["default"] == (3.5, 0.7)  # the prior stays for other models
    configured = Settings(data_dir=data.data_dir, tag_calibration={key: (2.0, 1.0)})
    assert configured.tag_calibration[key] == (2.0, 1.0)  # a configured value wins
    stored = json.loads(data.calibration_path.read_text())
    assert stored["fits"][key]["ece_after"] == report["after"]["ece"]


def test_calibrate_needs_one_source_of_labels_and_known_tags(families, tmp_path):
    settings, library, _ = families
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    neither = runner.invoke(cli, [*data, "calibrate"], env=_env(settings))
    assert neither.exit_code == 2 and "--labels" in neither.output
    unknown = tmp_path / "unknown.csv"
    photo = next(library.rglob("*.png"))
    unknown.write_text(f"{photo},zebra crossing,1\n{photo},zebra crossing,0\n")
    done = runner.invoke(cli, [*data, "calibrate", "--labels", str(unknown)], env=_env(settings))
    assert done.exit_code == 2 and "0 usable labels" in done.output


def test_calibrate_from_curation(families, tmp_path):
    settings, library, _ = families
    settings = settings.model_copy(
        # every label a candidate: the shipped actions would fill the cap otherwise
        update={"data_dir": tmp_path / "data", "tag_storage_floor": 0.01, "max_tags_per_asset": 700}
    )
    store = SqliteStore(settings)
    IndexRun(settings, store, TaggingEngine(settings)).run(scan([library], None))
    verdicts = 0
    for asset in store.iter_assets():
        family = FAMILIES[asset.folder]
        candidates = {t.tag for t in asset.smart_tags}
        for name in sorted(set(FAMILIES.values()) & candidates):
            action = ModerationAction.promote if name == family else ModerationAction.remove
            moderate(store, asset.id, action, name, "user:test", 5)
            verdicts += 1
    store.close()
    args = ["--data-dir", str(settings.data_dir), "calibrate", "--from-curation", "--json"]
    done = CliRunner().invoke(cli, args, env=_env(settings))
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["examples"] == verdicts >= settings.calibration_min_labels
    assert report["after"]["log_loss"] <= report["before"]["log_loss"]
