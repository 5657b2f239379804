"""The README's path from the demo to your own library works as written: its shell blocks run,
in order, after the demo, in a fresh directory laid out like a clone.

The test adapts three things only: the demo skips `scripts/setup.sh` (the test runs inside the
set-up .venv), a tiny model stands in for the default one (so it runs in seconds), and port
8000 becomes a free port. Blocks marked `# needs Docker` run only where a Docker engine is.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.backends import docker_available
from tests.processes import free_port
from tests.tiny_model import write_tiny_model

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## From the demo to your own library"
_BLOCK = re.compile(r"```bash\n(.*?)```", re.S)
WALKTHROUGH_TIMEOUT_S = 600


def walkthrough_blocks(readme: str) -> list[str]:
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    return _BLOCK.findall(readme[start : end if end > 0 else None])


def test_the_section_has_the_four_steps():
    blocks = walkthrough_blocks((ROOT / "README.md").read_text())
    joined = "\n".join(blocks)
    assert len(blocks) == 4
    for needed in ("SMARTTAGS_CONFIG_FILE", "index", "serve --with-worker", "docker compose"):
        assert needed in joined


def _clone_layout(tmp: Path) -> Path:
    """The files the walkthrough touches, as in a fresh clone (the venv shared)."""
    work = tmp / "clone"
    work.mkdir()
    for name in ("scripts", "examples", "docker", "README.md"):
        target = ROOT / name
        (work / name).symlink_to(target, target_is_directory=target.is_dir())
    (work / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)
    return work


@pytest.mark.skipif(not (ROOT / ".venv/bin/smarttags").exists(), reason="no .venv set up")
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_readme_walkthrough_runs_as_written(tmp_path):
    config, checkpoint = write_tiny_model(tmp_path / "model")
    work = _clone_layout(tmp_path)
    port = str(free_port())
    blocks = walkthrough_blocks((ROOT / "README.md").read_text())
    steps = [b.replace(":8000", f":{port}") for b in blocks]
    if not docker_available():
        steps = [b for b in steps if "# needs Docker" not in b]
    script = "set -euo pipefail\nbash scripts/demo.sh > demo.log\n" + "\n".join(steps)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTTAGS_")}
    env.update(
        SMARTTAGS_DEMO_SKIP_SETUP="1",
        SMARTTAGS_MODEL=str(config),
        SMARTTAGS_PRETRAINED=str(checkpoint),
        SMARTTAGS_API_PORT=port,
        SMARTTAGS_API_WORKERS="1",
        HF_HUB_OFFLINE="1",
    )
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=WALKTHROUGH_TIMEOUT_S,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    out = done.stdout
    assert "assets:" in out  # step 1: the demo's store, not an empty one
    assert "holds no assets" not in done.stderr
    assert '"status":"ok"' in out.replace(" ", "")  # step 3: the server answered
    assert (work / ".data" / "demo.toml").is_file()
