"""`smarttags serve` and `smarttags worker` as separate processes, with the embedded SQLite
queue and with a real Redis: an upload is indexed by the worker with visible progress; a
worker killed with SIGKILL mid-job leaves its job to be finished by the next worker; an API
restarted mid-job reads the job's record as it truly is."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from contextlib import ExitStack

import httpx
import pytest

from tests.processes import (
    free_port,
    redis_server,
    settings_env,
    start_serve,
    start_worker,
    wait_until,
)
from tests.test_pipeline import settings_for

pytest_plugins = ["tests.media", "tests.test_pipeline"]

CLIPS = 16  # enough work that a kill lands mid-job
FAST_RECOVERY = {
    "job_heartbeat_s": 0.2,
    "job_stale_after_s": 2.0,
    "maintenance_interval_s": 0.3,
    "worker_heartbeat_s": 0.3,
    "queue_poll_max_s": 0.2,
    "schedule_enabled": False,
}


def _library(tmp_path, media_lib):
    root = tmp_path / "library"
    (root / "clips").mkdir(parents=True)
    for n in range(CLIPS):
        shutil.copy(media_lib["h264_mp4"], root / "clips" / f"clip-{n:02d}.mp4")
    return root


def _job(client: httpx.Client, job_id: str) -> dict:
    return client.get(f"/jobs/{job_id}").json()


@pytest.mark.parametrize("queue", ["sqlite", "redis"])
def test_serve_and_worker_processes(queue, tmp_path, tiny_model, media_lib):
    with ExitStack() as stack:
        extra = {}
        if queue == "redis":
            extra["redis_url"] = stack.enter_context(redis_server(tmp_path))
        root = _library(tmp_path, media_lib)
        settings = settings_for(tmp_path, tiny_model, library_root=root, **FAST_RECOVERY, **extra)
        env = settings_env(settings)
        indexed = subprocess.run(
            [sys.executable, "-m", "smarttags", "index", str(root), "--json"],
            env=env, capture_output=True, text=True,
        )
        assert indexed.returncode == 0, indexed.stderr
        port = free_port()
        api, url = start_serve(env, port, tmp_path / "api.log")
        stack.callback(api.stop)
        worker = start_worker(env, tmp_path / "worker-1.log")
        stack.callback(worker.stop)
        client = stack.enter_context(httpx.Client(base_url=url, timeout=30))

        # an upload: 202, then the worker indexes it
        photo = media_lib["astronaut"].read_bytes()
        upload = client.post("/assets", files={"file": ("moon.jpg", photo)}, data={"folder": "up"})
        assert upload.status_code == 202, upload.text
        job_id = upload.json()["job_id"]
        done = wait_until(lambda: _job(client, job_id)["state"] == "done" and _job(client, job_id),
                          120, "the upload's job")
        assert done["done"] == done["total"] == 1 and done["worker"]
        assert client.get(f"/assets/{upload.json()['asset_id']}").json()["status"] == "tagged"
        health = client.get("/healthz").json()
        assert health["workers"]["alive"] == 1 and health["queue"]["ok"]

        # SIGKILL the worker mid-job; the next worker finishes the job
        started = client.post("/reprocess", json={"mode": "full", "folder": "clips"})
        job_id = started.json()["job_id"]

        def midway():
            record = _job(client, job_id)
            return record["state"] == "running" and 0 < record["done"] < record["total"]

        wait_until(midway, 120, "the reprocess job to be half-way", interval=0.02)
        worker.kill(signal.SIGKILL)
        assert _job(client, job_id)["state"] == "running"  # nobody has noticed yet

        # meanwhile the API restarts: the record stays true
        api.kill(signal.SIGKILL)
        api, url = start_serve(env, port, tmp_path / "api-2.log")
        stack.callback(api.stop)
        assert _job(client, job_id)["state"] in ("running", "queued")

        second = start_worker(env, tmp_path / "worker-2.log")
        stack.callback(second.stop)
        final = wait_until(
            lambda: (r := _job(client, job_id))["state"] in ("done", "failed") and r,
            120, "the job to end after the worker was killed",
        )
        assert final["state"] == "done", final
        assert final["attempt"] == 2 and final["done"] == final["total"] == CLIPS
        assert final["summary"]["tagged"] == CLIPS
        assert final["worker"] != done["worker"]
        listing = client.get("/jobs").json()
        assert {j["id"] for j in listing["jobs"]} >= {job_id, upload.json()["job_id"]}


def test_serve_with_worker_is_one_command_and_stops_its_worker(tmp_path, tiny_model, media_lib):
    settings = settings_for(tmp_path, tiny_model, library_root=tmp_path / "lib", **FAST_RECOVERY)
    port = free_port()
    api, url = start_serve(settings_env(settings), port, tmp_path / "api.log", "--with-worker")
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            photo = media_lib["coffee"].read_bytes()
            job_id = client.post("/assets", files={"file": ("cup.jpg", photo)}).json()["job_id"]
            wait_until(lambda: _job(client, job_id)["state"] == "done", 120, "the upload's job")
            (worker,) = client.get("/healthz").json()["workers"]["list"]
    finally:
        api.stop()
    assert api.popen.returncode is not None
    wait_until(lambda: not _alive(worker["pid"]), 30, "the worker to stop with the API")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
