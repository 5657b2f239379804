from __future__ import annotations

import os

import pytest

# Tests never wait on a model hub: a missing download fails at once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from catalog.stores import open_store
from tests.backends import (
    BACKENDS,
    docker_available,
    make_settings,
    osmem_url,
    real_opensearch_url,
    skip_reason_for_real_opensearch,
    unique_index,
)


@pytest.fixture(scope="session")
def real_opensearch():
    """URL of a real OpenSearch for the optional suite, or skip with the reason."""
    url = real_opensearch_url()
    if url:
        yield url
        return
    if not docker_available():
        pytest.skip(skip_reason_for_real_opensearch())
    try:
        from testcontainers.opensearch import OpenSearchContainer
    except ImportError:
        pytest.skip("testcontainers is not installed (pip install 'testcontainers[opensearch]')")
    with OpenSearchContainer("opensearchproject/opensearch:2.19.1") as container:
        yield container.get_config()["hosts"][0]


def _settings_for(backend: str, request: pytest.FixtureRequest, tmp_path, **overrides):
    if backend == "sqlite":
        return make_settings(tmp_path, **overrides)
    if backend == "osmem":
        url = osmem_url(request)
    else:
        request.applymarker(pytest.mark.opensearch)
        url = request.getfixturevalue("real_opensearch")
    return make_settings(
        tmp_path,
        backend="opensearch",
        opensearch_url=url,
        opensearch_index=unique_index(),
        **overrides,
    )


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def make_store(backend, request, tmp_path):
    """make_store(**settings_overrides) -> an empty store of the parametrized backend."""
    opened = []

    def factory(**overrides):
        settings = _settings_for(backend, request, tmp_path, **overrides)
        store = open_store(settings)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store):
    return make_store()
