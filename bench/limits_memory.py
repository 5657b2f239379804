"""Peak memory of two hostile inputs, end to end, each in processes of its own:

1. `smarttags index` of a 100-megapixel image (at `max_image_megapixels`, so it is decoded
   and tagged), against the same command on a 1-megapixel image: the peak resident memory
   of the largest process (the CLI; ffmpeg children count if larger). A first, unmeasured
   run embeds the vocabularies, which are cached per model, as on a working install.
2. A 50 MB upload to `smarttags serve` with a 1 MB limit: the server's peak resident memory
   before and after, how much of the body it read before it answered, and what is left in
   the library and the temp folder.

Prints figures only; it never passes or fails.

    PYTHONPATH=. .venv/bin/python bench/limits_memory.py
    PYTHONPATH=. .venv/bin/python bench/limits_memory.py --model ViT-B-32 --upload-mb 50

The model is a random-weight open_clip architecture (real size and cost, meaningless tags);
`--model tiny` uses the test suite's tiny one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from tests.big_images import flat_png

MIB = 1024 * 1024
_PEAK_OF_CHILD = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True)
sys.stderr.buffer.write(done.stderr[-2000:])
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def _model(name: str, root: Path) -> tuple[str, str]:
    if name == "tiny":
        from tests.tiny_model import write_tiny_model

        config, checkpoint = write_tiny_model(root / "model")
    else:
        from indexer.random_model import write_random_model

        config, checkpoint = write_random_model(name, root / "model")
    return str(config), str(checkpoint)


def _env(root: Path, model: tuple[str, str], **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "SMARTTAGS_DATA_DIR": str(root / "data"),
        "SMARTTAGS_MODEL": model[0],
        "SMARTTAGS_PRETRAINED": model[1],
        "SMARTTAGS_ENCODE_PRECISION": "fp32",
        "HF_HUB_OFFLINE": "1",
        **extra,
    }


def index_peak(image: Path, root: Path, model: tuple[str, str]) -> tuple[int, float]:
    """(exit code, peak MiB) of `smarttags index IMAGE` in a process of its own."""
    command = [sys.executable, "-m", "smarttags", "index", str(image), "--json"]
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_OF_CHILD, *command],
        env=_env(root, model),
        capture_output=True,
        text=True,
        check=False,
    )
    code, peak_kib = done.stdout.split()[-2:]
    return int(code), int(peak_kib) / 1024


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rss_peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _body(size: int) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n'
    ).encode()
    data = b"\xff\xd8\xff\xe0" + os.urandom(size - 4)
    return head + data + f"\r\n--{boundary}--\r\n".encode(), boundary


def upload_case(root: Path, model: tuple[str, str], upload_mb: int) -> dict:
    port = _free_port()
    spool = root / "tmp"
    spool.mkdir(parents=True)
    env = _env(root, model, SMARTTAGS_MAX_FILE_MB="1", TMPDIR=str(spool))
    env["SMARTTAGS_LIBRARY_ROOT"] = str(root / "library")
    server = subprocess.Popen(
        [sys.executable, "-m", "smarttags", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        before = _rss_peak_mib(server.pid)
        body, boundary = _body(upload_mb * MIB)
        sent = {"bytes": 0}

        def chunks():
            for start in range(0, len(body), 64 * 1024):
                piece = body[start : start + 64 * 1024]
                sent["bytes"] += len(piece)
                yield piece

        headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
        status: int | str
        try:
            # no Content-Length (chunked): the server must stop reading by itself
            status = httpx.post(
                f"{url}/assets", content=chunks(), headers=headers, timeout=60
            ).status_code
        except httpx.HTTPError as exc:  # the server may close the connection mid-body
            status = type(exc).__name__
        after = _rss_peak_mib(server.pid)
        left = (
            [p for p in (root / "library").rglob("*") if p.is_file()]
            if (root / "library").exists()
            else []
        )
        return {
            "status": status,
            "server_peak_before_mib": round(before, 1),
            "server_peak_after_mib": round(after, 1),
            "client_sent_mib": round(sent["bytes"] / MIB, 1),
            "files_left_in_library": len(left),
            "files_left_in_temp": len(list(spool.iterdir())),
        }
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ViT-B-32", help="open_clip model name, or tiny")
    parser.add_argument("--megapixels", type=int, default=100)
    parser.add_argument("--upload-mb", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smarttags-limits-") as tmp:
        root = Path(tmp)
        model = _model(args.model, root)
        side = int((args.megapixels * 1_000_000) ** 0.5)
        big = flat_png(root / "big.png", side, side, rgb=True)
        small = flat_png(root / "small.png", 1000, 1000, rgb=True)
        # one data dir: the first run embeds the vocabularies (cached per model), so both
        # measured runs see the steady state a worker is in
        index_peak(small, root / "run", model)
        base_code, base = index_peak(small, root / "run", model)
        code, peak = index_peak(big, root / "run", model)
        print(f"model: {args.model}")
        size_kb = big.stat().st_size / 1024
        print(f"index {side}x{side} ({side * side / 1e6:.0f} MP, {size_kb:.0f} KB PNG):")
        print(f"  peak {peak:.0f} MiB (exit {code})")
        print(f"  same command on a 1 MP image: peak {base:.0f} MiB (exit {base_code})")
        print(f"  ratio {peak / base:.2f}; the 100 MP decode adds {peak - base:.0f} MiB")
        upload = upload_case(root / "upload", model, args.upload_mb)
        print(f"upload of {args.upload_mb} MB with a 1 MB limit: {json.dumps(upload)}")


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
