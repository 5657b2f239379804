"""The API process stays light: `smarttags serve`, while answering a search, an asset, an upload
and a job's status, never imports torch, open_clip or ffmpeg (nor the indexer at all).

The process runs with `python -X importtime`, which reports every module it imports on stderr.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import httpx

from tests.backends import make_settings
from tests.processes import Proc, free_port, settings_env, wait_http

pytest_plugins = ["tests.media"]

HEAVY = ("torch", "open_clip", "ffmpeg", "imageio_ffmpeg", "indexer")
_IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S.*)$")


def imported_modules(importtime_log: str) -> set[str]:
    return {m.group(1).strip() for m in map(_IMPORT_LINE.match, importtime_log.splitlines()) if m}


def test_the_importtime_parser_reads_module_names():
    log = "import time: self [us] | cumulative | imported package\n" \
          "import time:       112 |        112 |   torch.nn\n" \
          "import time:      1042 |       2000 | fastapi\n"
    assert imported_modules(log) == {"torch.nn", "fastapi"}


def test_serving_search_assets_uploads_and_jobs_never_imports_torch(tmp_path, media_lib):
    settings = make_settings(tmp_path, library_root=tmp_path / "library")
    env = settings_env(settings)
    row = {"id": "a1", "path": "shoot/dog.jpg", "media_type": "image", "title": "A dog"}
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text(json.dumps(row) + "\n")
    subprocess.run(
        [sys.executable, "-m", "smarttags", "import", str(catalog)], env=env, check=True,
        capture_output=True,
    )
    port = free_port()
    proc = Proc(["-X", "importtime", "-m", "smarttags", "serve", "--port", str(port)], env,
                tmp_path / "serve.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/healthz", proc)
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/search", params={"q": "dog"}).json()["hits"][0]["id"] == "a1"
            assert client.get("/assets/a1").status_code == 200
            photo = media_lib["astronaut"].read_bytes()
            upload = client.post("/assets", files={"file": ("moon.jpg", photo, "image/jpeg")})
            assert upload.status_code == 202, upload.text
            job = client.get(f"/jobs/{upload.json()['job_id']}")
            assert job.status_code == 200 and job.json()["state"] == "queued"
    finally:
        proc.stop()
    modules = imported_modules(proc.log())
    assert "fastapi" in modules and "uvicorn" in modules  # the log is read right
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == []
