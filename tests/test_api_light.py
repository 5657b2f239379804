"""The API process stays light: `smarttags serve`, while answering a search (by keyword, by
meaning and by picture), an asset, an upload and a job's status, never imports torch,
open_clip or ffmpeg; of the indexer, only the torch-free query encoder and what it needs.

The process runs with `python -X importtime`, which reports every module it imports on stderr.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import httpx

from tests.backends import make_settings
from tests.processes import Proc, free_port, settings_env, wait_http
from tests.tiny_model import write_tiny_model

pytest_plugins = ["tests.media"]

HEAVY = ("torch", "open_clip", "ffmpeg", "imageio_ffmpeg", "transformers")
# the indexer modules the query encoder may load: ONNX Runtime sessions, the tokenizer, PIL
LIGHT_INDEXER = {
    "indexer",
    "indexer.query_encoder",
    "indexer.text_encoder",
    "indexer.onnx_runtime",
    "indexer.clip_tokenizer",
    "indexer.export_cache",
    "indexer.embedding_cache",
    "indexer.tagger",
    "indexer.calibration",
    "indexer.limits",
    "indexer.pictures",
    "indexer.hardware",
    "indexer.runtime_choice",
}
_IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S.*)$")


def imported_modules(importtime_log: str) -> set[str]:
    return {m.group(1).strip() for m in map(_IMPORT_LINE.match, importtime_log.splitlines()) if m}


def test_the_importtime_parser_reads_module_names():
    log = "import time: self [us] | cumulative | imported package\n" \
          "import time:       112 |        112 |   torch.nn\n" \
          "import time:      1042 |       2000 | fastapi\n"
    assert imported_modules(log) == {"torch.nn", "fastapi"}


def test_serving_searches_assets_uploads_and_jobs_never_imports_torch(tmp_path, media_lib):
    config, checkpoint = write_tiny_model(tmp_path / "model")
    settings = make_settings(
        tmp_path,
        library_root=tmp_path / "library",
        model=str(config),
        pretrained=str(checkpoint),
        inference_runtime="onnx",  # the first index run exports the towers the API loads
        inference_precision="fp32",
        inference_threads=1,
        semantic_min_confidence=0.0,
    )
    env = settings_env(settings)
    photos = tmp_path / "library" / "shoot"
    photos.mkdir(parents=True)
    shutil.copy(media_lib["coffee"], photos / "coffee.jpg")
    shutil.copy(media_lib["chelsea"], photos / "chelsea.jpg")
    subprocess.run(
        [sys.executable, "-m", "smarttags", "index", str(tmp_path / "library")],
        env=env, check=True, capture_output=True,
    )
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
            semantic = client.get("/search", params={"q": "a cat", "mode": "semantic"}).json()
            assert semantic["mode"] == "semantic", semantic
            paths = {h["path"] for h in semantic["hits"]}
            assert paths == {"shoot/coffee.jpg", "shoot/chelsea.jpg"}
            picture = media_lib["chelsea"].read_bytes()
            found = client.post("/search/by-image", files={"file": ("q.jpg", picture)})
            assert found.status_code == 200, found.text
            assert found.json()["hits"][0]["path"] == "shoot/chelsea.jpg"
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
    assert "indexer.query_encoder" in modules and "onnxruntime" in modules
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == []
    indexer = {m for m in modules if m.split(".")[0] == "indexer"}
    assert sorted(indexer - LIGHT_INDEXER) == []
