"""Store factories for the contract suite: SQLite, osmem (OpenSearch protocol), real OpenSearch."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from catalog.settings import Settings

BACKENDS = ["sqlite", "osmem", "opensearch"]


def real_opensearch_url() -> str | None:
    """A reachable real cluster: SMARTTAGS_TEST_OPENSEARCH_URL, else testcontainers + Docker."""
    return os.environ.get("SMARTTAGS_TEST_OPENSEARCH_URL") or None


def docker_available() -> bool:
    return shutil.which("docker") is not None and os.path.exists("/var/run/docker.sock")


def make_settings(tmp_path: Path, **overrides) -> Settings:
    return Settings(data_dir=tmp_path / "data", **overrides)


def skip_reason_for_real_opensearch() -> str:
    return (
        "no real OpenSearch: set SMARTTAGS_TEST_OPENSEARCH_URL or run where a Docker engine "
        "is available (testcontainers); osmem covers the protocol meanwhile"
    )


def unique_index() -> str:
    return f"smarttags-test-{uuid.uuid4().hex[:10]}"


def osmem_url(request: pytest.FixtureRequest) -> str:
    clone = request.getfixturevalue("osmem_clone")
    return clone.url
