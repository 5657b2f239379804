"""mappings/ ships as package data: the built wheel, installed (not editable) in a fresh venv,
creates the index against osmem from a directory where the source tree is not importable."""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

from catalog.opensearch_store import load_mapping
from tests.backends import unique_index

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("catalog", "query", "indexer", "smarttags", "mappings", "pyproject.toml", "README.md")

# Runs in the fresh venv: where the packages come from, and what the index got.
PROBE = """
import json, sys
import catalog, mappings
from catalog.asset import Asset
from catalog.opensearch_store import OpenSearchStore
from catalog.settings import Settings
from query.routes_webui import WEBUI_DIR

data_dir, url, alias = sys.argv[1:]
settings = Settings(data_dir=data_dir, backend="opensearch", opensearch_url=url,
                    opensearch_index=alias)
store = OpenSearchStore(settings)
store.upsert_many([Asset(path="beach/dog.jpg", media_type="image")])
print(json.dumps({
    "catalog": catalog.__file__,
    "mappings": mappings.__file__,
    "saved_objects": mappings.resource("dashboards.ndjson").is_file(),
    "index": store.client.indices.get_mapping(index=alias),
    "count": store.count(),
    "webui_dir": str(WEBUI_DIR),
    "webui": sorted(str(p.relative_to(WEBUI_DIR)) for p in WEBUI_DIR.rglob("*") if p.is_file()),
}))
"""


def run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def build_wheel(work: Path) -> Path:
    """A wheel from a copy of the sources (the build leaves build/ and *.egg-info behind)."""
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy(ROOT / name, source / name)
    # no index, no isolation: nothing is downloaded; the running setuptools builds it
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check")
    run(*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", "dist", "./source",
        cwd=work)  # fmt: skip
    (wheel,) = (work / "dist").glob("smarttags-*.whl")
    return wheel


def fresh_venv(work: Path, wheel: Path) -> Path:
    """A venv with the wheel installed in it; the dependencies (not smarttags) come from the
    running interpreter's site-packages, named in a .pth file written after the install."""
    env = work / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", python)
    run(*pip, "install", "--no-deps", "--no-index", wheel, cwd=work)
    (target,) = (env / "lib").glob("python3*/site-packages")
    # the directories themselves only: their own .pth files (the editable install of this
    # checkout among them) are not processed from here
    ours = [p for p in sys.path if p.endswith("site-packages")] + site.getsitepackages()
    (target / "dependencies.pth").write_text("\n".join(dict.fromkeys(ours)) + "\n")
    return env


def test_the_installed_wheel_creates_the_index_from_its_own_mappings(tmp_path, osmem_clone):
    wheel = build_wheel(tmp_path)
    env = fresh_venv(tmp_path, wheel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    alias = unique_index()
    python = env / "bin" / "python"
    # -I: neither the working directory nor PYTHONPATH is on sys.path
    out = run(python, "-I", "-c", PROBE, tmp_path / "data", osmem_clone.url, alias, cwd=elsewhere)
    found = json.loads(out)
    installed = env.resolve()
    for package in ("catalog", "mappings"):
        where = Path(found[package]).resolve()
        assert where.is_relative_to(installed) and not where.is_relative_to(ROOT), where
    assert found["saved_objects"] is True
    assert found["count"] == 1
    (index,) = found["index"].values()
    shipped = load_mapping()["mappings"]["properties"]
    assert set(index["mappings"]["properties"]) == set(shipped)
    assert run(env / "bin" / "smarttags", "--version", cwd=elsewhere).startswith("smarttags")
    # the web UI's files ship as package data, every one of them
    assert Path(found["webui_dir"]).resolve().is_relative_to(installed)
    source = ROOT / "query" / "webui"
    files = sorted(str(p.relative_to(source)) for p in source.rglob("*") if p.is_file())
    assert found["webui"] == files
