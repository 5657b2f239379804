"""docker/compose.yaml and its images, checked structurally (no Docker engine runs here).

The stack's file parses; each service's image is pinned or its build context and Dockerfile
exist (and what the Dockerfile copies); every long-running service has a health check; every
named volume is declared and every bind-mounted path exists; `depends_on` names services
that exist (and have a health check where it waits for one); the API and the workers share
the store, the queue, the library and the data dir; the API image installs no torch and the
worker image torch and ffmpeg. Each check is shown to fail on a broken copy.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = Path("docker/compose.yaml")
SERVICES = {"api", "worker", "redis", "opensearch", "dashboards", "dashboards-objects"}
SHARED_ENV = (
    "SMARTTAGS_REDIS_URL",
    "SMARTTAGS_OPENSEARCH_URL",
    "SMARTTAGS_LIBRARY_ROOT",
    "SMARTTAGS_DATA_DIR",
)
SHARED_DIRS = ("SMARTTAGS_LIBRARY_ROOT", "SMARTTAGS_DATA_DIR")  # on volumes both mount
URL_SETTINGS = ("SMARTTAGS_REDIS_URL", "SMARTTAGS_OPENSEARCH_URL")  # hosts: compose services
MIN_OPENSEARCH = (2, 19)
TORCH = re.compile(r"\[[^\]]*indexer[^\]]*\]|\btorch\b|open[-_]clip", re.IGNORECASE)

Doc = dict[str, Any]


# reading the compose file's parts
def volume_mounts(service: Doc) -> list[tuple[str, str]]:
    """(source, target) of each mount, short or long syntax; source '' for anonymous."""
    mounts = []
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            mounts.append((str(entry.get("source", "")), str(entry["target"])))
            continue
        parts = str(entry).split(":")
        mounts.append(("", parts[0]) if len(parts) == 1 else (parts[0], parts[1]))
    return mounts


def is_named(source: str) -> bool:
    return bool(source) and not source.startswith((".", "/", "~"))


def environment(service: Doc) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def depends_on(service: Doc) -> dict[str, str]:
    found = service.get("depends_on") or {}
    if isinstance(found, list):
        return {name: "service_started" for name in found}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in found.items()}


def long_running(service: Doc) -> bool:
    return str(service.get("restart", "")) != "no"


def has_healthcheck(service: Doc) -> bool:
    check = service.get("healthcheck") or {}
    test = check.get("test")
    return bool(test) and not check.get("disable") and test not in (["NONE"], "NONE")


def dockerfile_of(service: Doc, base: Path) -> tuple[Path, Path] | None:
    """(context, Dockerfile) of a built service."""
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        build = {"context": build}
    context = (base / build.get("context", ".")).resolve()
    return context, context / build.get("dockerfile", "Dockerfile")


def instructions(dockerfile: Path) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    joined, current = [], ""
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#"):
            continue
        current += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            if current.strip():
                joined.append(" ".join(current.split()))
            current = ""
    return joined


def pip_installs(dockerfile: Path) -> list[str]:
    return [
        part.strip()
        for step in instructions(dockerfile)
        if step.startswith("RUN ")
        for part in step[4:].split("&&")
        if re.search(r"\bpip install\b", part)
    ]


# the checks: each returns the problems it found
def check_images(name: str, service: Doc, base: Path) -> list[str]:
    built = dockerfile_of(service, base)
    if built is None:
        image = str(service.get("image", ""))
        if not image:
            return [f"{name}: neither an image nor a build"]
        tag = image.rpartition(":")[2] if ":" in image else ""
        return [] if tag and tag != "latest" else [f"{name}: pin the image {image!r} to a tag"]
    context, dockerfile = built
    if not context.is_dir():
        return [f"{name}: build context {context} does not exist"]
    if not dockerfile.is_file():
        return [f"{name}: Dockerfile {dockerfile} does not exist"]
    problems = []
    for step in instructions(dockerfile):
        if step.startswith("COPY ") and "--from=" not in step:
            for source in step.split()[1:-1]:
                if not (context / source).exists():
                    problems.append(f"{name}: {dockerfile.name} copies {source}: not there")
    return problems


def check_health(name: str, service: Doc) -> list[str]:
    if long_running(service) and not has_healthcheck(service):
        return [f"{name}: no healthcheck on a long-running service"]
    return []


def check_volumes(name: str, service: Doc, declared: set[str], base: Path) -> list[str]:
    problems = []
    for source, _ in volume_mounts(service):
        if is_named(source) and source not in declared:
            problems.append(f"{name}: volume {source!r} is not declared under volumes")
        elif source and not is_named(source) and not (base / source).exists():
            problems.append(f"{name}: bind-mounted {source} does not exist")
    return problems


def check_depends(name: str, service: Doc, services: Doc) -> list[str]:
    problems = []
    for other, condition in depends_on(service).items():
        if other not in services:
            problems.append(f"{name}: depends on unknown service {other!r}")
        elif condition == "service_healthy" and not has_healthcheck(services[other]):
            problems.append(f"{name}: waits for {other} to be healthy; it has no healthcheck")
    return problems


def check_sharing(services: Doc) -> list[str]:
    """The API and the workers see one store, one queue, one library and one data dir."""
    api, worker = services["api"], services["worker"]
    problems = []
    envs = {"api": environment(api), "worker": environment(worker)}
    for key in SHARED_ENV:
        values = {name: env.get(key) for name, env in envs.items()}
        if None in values.values():
            missing = [name for name, value in values.items() if value is None]
            problems.append(f"{key} is not set for {', '.join(missing)}")
        elif len(set(values.values())) > 1:
            problems.append(f"{key} differs between api and worker: {values}")
    for key in URL_SETTINGS:
        host = urlsplit(envs["api"].get(key, "")).hostname
        if host and host not in services:
            problems.append(f"{key} names host {host!r}, which is no service")
    for key in SHARED_DIRS:
        path = envs["api"].get(key)
        volumes = {
            name: {s for s, t in volume_mounts(svc) if t == path and is_named(s)}
            for name, svc in (("api", api), ("worker", worker))
        }
        if not (volumes["api"] & volumes["worker"]):
            problems.append(f"{key} ({path}) is not mounted from one named volume in both")
    return problems


def check_roles(services: Doc, base: Path) -> list[str]:
    """The API image without torch, the worker's with torch and ffmpeg; what each runs."""
    problems = []
    api_command = " ".join(map(str, services["api"].get("command", [])))
    if "serve" not in api_command or "worker" in api_command:
        problems.append("api: the command must be `smarttags serve` alone")
    if "worker" not in " ".join(map(str, services["worker"].get("command", []))):
        problems.append("worker: the command must be `smarttags worker`")
    if "container_name" in services["worker"] or services["worker"].get("ports"):
        problems.append("worker: a container_name or published port stops --scale worker=N")
    built = {name: dockerfile_of(services[name], base) for name in ("api", "worker")}
    if any(b is None or not b[1].is_file() for b in built.values()):
        return problems  # check_images says why
    api_pips = pip_installs(built["api"][1])
    problems += [
        f"api: the image installs torch or the indexer: {p}" for p in api_pips if TORCH.search(p)
    ]
    if not any("smarttags" in p or " ." in p for p in api_pips):
        problems.append("api: the image does not install smarttags")
    problems += [f"api: editable install: {p}" for p in api_pips if re.search(r"\s-e\s", p)]
    worker_pips = " ".join(pip_installs(built["worker"][1]))
    if not re.search(r"\[indexer\]", worker_pips) or "torch" not in worker_pips:
        problems.append("worker: the image does not install torch and the indexer extra")
    worker_steps = " ".join(instructions(built["worker"][1]))
    if not re.search(r"apt-get install[^&]*\bffmpeg\b", worker_steps):
        problems.append("worker: the image does not install Debian's ffmpeg")
    return problems


def check_opensearch(services: Doc) -> list[str]:
    image = str(services["opensearch"].get("image", ""))
    found = re.search(r":(\d+)\.(\d+)", image)
    if not found or tuple(map(int, found.groups())) < MIN_OPENSEARCH:
        return [f"opensearch: {image!r} is older than 2.19"]
    return []


def problems_of(root: Path) -> list[str]:
    path = root / COMPOSE
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        return [f"{COMPOSE} is not YAML: {exc}"]
    services = doc.get("services") or {}
    missing = SERVICES - set(services)
    if missing:
        return [f"services missing: {', '.join(sorted(missing))}"]
    base = path.parent
    declared = set(doc.get("volumes") or {})
    problems = []
    for name, service in services.items():
        problems += check_images(name, service, base)
        problems += check_health(name, service)
        problems += check_volumes(name, service, declared, base)
        problems += check_depends(name, service, services)
    return (
        problems
        + check_sharing(services)
        + check_roles(services, base)
        + check_opensearch(services)
    )


def test_the_compose_stack_holds_together():
    assert problems_of(ROOT) == []


def test_the_api_waits_for_its_backends_and_the_import_for_dashboards():
    services = yaml.safe_load((ROOT / COMPOSE).read_text())["services"]
    assert depends_on(services["api"]) == {
        "opensearch": "service_healthy",
        "redis": "service_healthy",
    }
    assert depends_on(services["dashboards-objects"]) == {"dashboards": "service_healthy"}
    assert "--allow-anonymous" in services["api"]["command"]


# breaking a copy: each check must see it
def broken_copy(tmp_path: Path) -> Path:
    for part in ("docker", "mappings", "catalog", "query", "indexer", "smarttags"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def edit_compose(change: Callable[[Doc], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / COMPOSE
        doc = yaml.safe_load(path.read_text())
        change(doc)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))

    return apply


def edit_text(relative: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / relative
        text = path.read_text()
        assert old in text, f"{old!r} is not in {relative}"
        path.write_text(text.replace(old, new))

    return apply


def remove(relative: str) -> Callable[[Path], None]:
    return lambda root: (root / relative).unlink()


def _svc(doc: Doc, name: str) -> Doc:
    return doc["services"][name]


def _env(doc: Doc, name: str) -> dict[str, str]:
    return _svc(doc, name)["environment"]


BREAKAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "not YAML": (edit_text("docker/compose.yaml", "services:", "services: ["), "not YAML"),
    "a service missing": (edit_compose(lambda d: d["services"].pop("redis")), "missing: redis"),
    "no healthcheck": (
        edit_compose(lambda d: _svc(d, "worker").pop("healthcheck")),
        "worker: no healthcheck",
    ),
    "healthcheck disabled": (
        edit_compose(lambda d: _svc(d, "dashboards").update(healthcheck={"disable": True})),
        "dashboards: no healthcheck",
    ),
    "undeclared volume": (edit_compose(lambda d: d["volumes"].pop("data")), "'data' is not"),
    "bind mount of nothing": (
        edit_compose(lambda d: _svc(d, "dashboards-objects").update(volumes=["../nope:/m"])),
        "../nope does not exist",
    ),
    "unknown dependency": (
        edit_compose(lambda d: _svc(d, "api")["depends_on"].update(postgres={})),
        "unknown service 'postgres'",
    ),
    "waits for a service without healthcheck": (
        edit_compose(lambda d: _svc(d, "redis").pop("healthcheck")),
        "waits for redis",
    ),
    "unpinned image": (
        edit_compose(lambda d: _svc(d, "redis").update(image="redis")),
        "pin the image",
    ),
    "no build context": (
        edit_compose(lambda d: _svc(d, "api")["build"].update(context="../nowhere")),
        "does not exist",
    ),
    "no Dockerfile": (remove("docker/worker.Dockerfile"), "worker.Dockerfile does not exist"),
    "COPY of nothing": (
        edit_text("docker/api.Dockerfile", "COPY query query", "COPY qry qry"),
        "copies qry",
    ),
    "api installs the indexer": (
        edit_text("docker/api.Dockerfile", "smarttags-*.whl &&", "smarttags-*.whl[indexer] &&"),
        "installs torch",
    ),
    "api installs torch": (
        edit_text("docker/api.Dockerfile", "pip install /wheels", "pip install torch /wheels"),
        "installs torch",
    ),
    "api editable": (
        edit_text("docker/api.Dockerfile", "pip install /wheels", "pip install -e /wheels"),
        "editable",
    ),
    "worker without ffmpeg": (
        edit_text("docker/worker.Dockerfile", "--no-install-recommends ffmpeg", "curl"),
        "ffmpeg",
    ),
    "worker without torch": (
        edit_text("docker/worker.Dockerfile", '"${wheel}[indexer]"', '"${wheel}"'),
        "torch and the indexer",
    ),
    "env differs": (
        edit_compose(lambda d: _env(d, "worker").update(SMARTTAGS_DATA_DIR="/elsewhere")),
        "SMARTTAGS_DATA_DIR differs",
    ),
    "env missing": (
        edit_compose(lambda d: _env(d, "api").pop("SMARTTAGS_REDIS_URL")),
        "SMARTTAGS_REDIS_URL is not set for api",
    ),
    "url names no service": (
        edit_compose(
            lambda d: [
                _env(d, s).update(SMARTTAGS_REDIS_URL="redis://cache:6379/0")
                for s in ("api", "worker")
            ]
        ),
        "host 'cache'",
    ),
    "data dir on no shared volume": (
        edit_compose(lambda d: _svc(d, "worker").update(volumes=["library:/library"])),
        "SMARTTAGS_DATA_DIR (/data) is not mounted",
    ),
    "worker cannot scale": (
        edit_compose(lambda d: _svc(d, "worker").update(container_name="worker")),
        "--scale",
    ),
    "api runs a worker": (
        edit_compose(lambda d: _svc(d, "api").update(command=["smarttags", "worker"])),
        "api: the command",
    ),
    "old OpenSearch": (
        edit_compose(
            lambda d: _svc(d, "opensearch").update(image="opensearchproject/opensearch:2.11.0")
        ),
        "older than 2.19",
    ),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_each_check_fails_on_a_broken_copy(tmp_path, breakage):
    root = broken_copy(tmp_path)
    assert problems_of(root) == []  # the copy itself is whole
    breaks, expected = BREAKAGES[breakage]
    breaks(root)
    found = problems_of(root)
    assert any(expected in problem for problem in found), found
