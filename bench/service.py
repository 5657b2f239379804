"""The service as a team runs it: `smarttags serve` and `smarttags worker` as processes.

Prints figures only; it never passes or fails on time.

    PYTHONPATH=. .venv/bin/python bench/service.py [--jobs 20] [--model ViT-B-32]

- API start: from spawning `smarttags serve` to its first answer on /healthz (median of 3).
- API resident memory (VmRSS) after answering searches, an asset, uploads and job status,
  and whether torch is loaded in it.
- Job pick-up latency: for each upload, the time from the job's record being created (the
  202) to a worker claiming it (`started_at`), after a random idle gap of 0-3 s (an idle
  SQLite queue backs off its polling up to `queue_poll_max_s`). Embedded SQLite queue, and
  Redis when `redis-server` is installed.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
from PIL import Image

from catalog.settings import Settings
from indexer.random_model import write_random_model
from tests.processes import (
    free_port,
    redis_server,
    settings_env,
    start_serve,
    start_worker,
    wait_until,
)

STARTS = 3


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _maps_torch(pid: int) -> bool:
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def _jpeg(seed: int) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (320, 240), tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def api_start(env: dict[str, str], root: Path) -> tuple[float, float, bool]:
    times = []
    for n in range(STARTS):
        port = free_port()
        began = time.perf_counter()
        api, url = start_serve(env, port, root / f"start-{n}.log")
        times.append(time.perf_counter() - began)
        if n < STARTS - 1:
            api.stop()
    with httpx.Client(base_url=url, timeout=30) as client:
        for q in ("dog", "beach sunset", "running", ""):
            for _ in range(10):
                client.get("/search", params={"q": q})
        client.get("/jobs")
    rss, torch = _rss_mb(api.pid), _maps_torch(api.pid)
    api.stop()
    return statistics.median(times), rss, torch


def pickup(env: dict[str, str], root: Path, jobs: int, label: str) -> list[float]:
    port = free_port()
    api, url = start_serve(env, port, root / f"api-{label}.log")
    worker = start_worker(env, root / f"worker-{label}.log")
    rng = random.Random(1)
    latencies = []
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            wait_until(lambda: client.get("/healthz").json()["workers"]["alive"], 120, "a worker")
            for n in range(jobs):
                time.sleep(rng.uniform(0.0, 3.0))
                files = {"file": (f"{label}-{n}.jpg", _jpeg(n))}
                job_id = client.post("/assets", files=files).json()["job_id"]
                record = wait_until(
                    lambda job_id=job_id: (r := client.get(f"/jobs/{job_id}").json())["state"]
                    in ("done", "failed") and r,
                    300,
                    "the job",
                )
                latencies.append(
                    (_parse(record["started_at"]) - _parse(record["created_at"])).total_seconds()
                )
    finally:
        worker.stop()
        api.stop()
    return latencies


def _figures(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms ({len(ordered)} jobs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--model", default="ViT-B-32")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config, checkpoint = write_random_model(args.model, root / "model")
        settings = Settings(
            data_dir=root / "data",
            library_root=root / "library",
            model=str(config),
            pretrained=str(checkpoint),
            schedule_enabled=False,
        )
        env = settings_env(settings)
        catalog = root / "catalog.jsonl"
        rows = [
            {"path": f"f{n % 50}/a{n}.jpg", "media_type": "image", "title": f"dog {n} sunset"}
            for n in range(2000)
        ]
        catalog.write_text("".join(json.dumps(r) + "\n" for r in rows))
        subprocess.run([sys.executable, "-m", "smarttags", "import", str(catalog)], env=env,
                       check=True, capture_output=True)
        start_s, rss, torch = api_start(env, root)
        print(f"API start to first answer: {start_s:.2f} s (median of {STARTS})")
        print(f"API resident memory after searches: {rss:.0f} MB; torch loaded: {torch}")
        embedded = pickup(env, root, args.jobs, "sqlite")
        print(f"job pick-up, embedded SQLite queue: {_figures(embedded)}")
        try:
            with redis_server(root) as url:
                redis_env = settings_env(settings.model_copy(update={"redis_url": url}))
                redis = pickup(redis_env, root, args.jobs, "redis")
                print(f"job pick-up, Redis queue: {_figures(redis)}")
        except BaseException as exc:  # pytest.skip when redis-server is missing
            if type(exc).__name__ != "Skipped":
                raise
            print(f"job pick-up, Redis queue: not measured ({exc})")


if __name__ == "__main__":
    main()
