"""Screenshots of every page of the web UI, for the README (docs/screenshots/*.png).

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--keep DIR]

Seeds a demo catalog in a temporary data folder (photos from scikit-image's sample data,
short videos made from them with ffmpeg, hand-written tags, folder settings, a training
report, jobs and a moderation history), serves the API and UI with uvicorn, uploads two
files through the UI to a real worker (the tiny random model the tests use, so their tags
are arbitrary), and drives the same headless Chromium as the browser tests.

The demo tags are illustrative, written here, not computed: the development machines have no
model weights.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' browser and worker helpers

from PIL import Image  # noqa: E402
from skimage import data as samples  # noqa: E402

from catalog.asset import Asset  # noqa: E402
from catalog.audit import ModerationAction  # noqa: E402
from catalog.curation import edit_metadata, moderate  # noqa: E402
from catalog.folders import Toggle  # noqa: E402
from catalog.jobs import JobRecord, JobState  # noqa: E402
from catalog.keys import Role, create_key, open_key_store  # noqa: E402
from catalog.queue import JobQueue  # noqa: E402
from catalog.settings import Settings  # noqa: E402
from catalog.sqlite_store import SqliteStore  # noqa: E402
from catalog.training_runs import TagReport, TrainingRecord, claim_run, save_record  # noqa: E402
from query.api import create_app  # noqa: E402
from query.curation_service import set_folder  # noqa: E402
from tests.browser import ServerThread, chromium, require_browser  # noqa: E402

POSTER_PX = 512
VIDEO_PX = (960, 540)
VIDEO_FPS = 25
MODEL_ID = "ViT-B-32/datacomp_xl_s13b_b90k"
WAIT_S = 20.0
MAX_PAGE_HEIGHT = 2000

# (sample image file, library path, title, description, keywords, tags, video seconds or None)
# tags: (name, kind, confidence, segments)
DEMO = [
    (
        "rocket.jpg", "campaigns/space-week/launch-day.mp4", "Launch day at the pad",
        "The rocket clears the tower; wide shot, morning light.", ["launch", "space week"],
        [("rocket", "object", 0.97, [(0, 12)]), ("launching", "action", 0.91, [(2.5, 9.5)]),
         ("space", "object", 0.83, [(5, 12)]),
         ("smoke", "object", 0.86, [(3, 12)]), ("sky", "object", 0.82, [(0, 5), (8, 12)]),
         ("tower", "object", 0.74, [(0, 4)]), ("crowd", "object", 0.41, [(10, 12)])],
        12,
    ),
    (
        "astronaut.png", "campaigns/space-week/astronaut-portrait.jpg", "Astronaut portrait",
        "Official portrait in a spacesuit, flag behind.", ["portrait", "space week", "crew"],
        [("astronaut", "object", 0.96, []), ("spacesuit", "object", 0.93, []),
         ("flag", "object", 0.88, []), ("portrait", "object", 0.84, []),
         ("smiling", "action", 0.72, [])],
        None,
    ),
    (
        "astronaut.png", "campaigns/space-week/crew-interview.mp4", "Crew interview",
        "Talking about the mission, medium close-up.", ["interview", "space week"],
        [("astronaut", "object", 0.94, [(0, 16)]), ("talking", "action", 0.89, [(1, 7), (9, 15)]),
         ("waving", "action", 0.77, [(14, 16)]), ("flag", "object", 0.71, [(0, 16)])],
        16,
    ),
    (
        "motorcycle_left.png", "campaigns/summer-2025/studio-motorbike.jpg",
        "Motorbike, studio shot",
        "", ["product", "summer"],
        [("motorcycle", "object", 0.95, []), ("studio", "object", 0.81, []),
         ("chrome", "object", 0.73, [])],
        None,
    ),
    (
        "grass.png", "campaigns/summer-2025/meadow.jpg", "Meadow texture", "", ["background"],
        [("grass", "object", 0.96, []), ("field", "object", 0.82, []),
         ("green", "object", 0.79, [])],
        None,
    ),
    (
        "chelsea.png", "social/pets/ginger-cat.jpg", "Ginger cat", "Chelsea, the office cat.",
        ["pets"],
        [("cat", "object", 0.98, []), ("whiskers", "object", 0.83, []),
         ("looking", "action", 0.71, [])],
        None,
    ),
    (
        "coffee.png", "social/food/morning-coffee.jpg", "Morning coffee", "", ["breakfast"],
        [("coffee", "object", 0.95, []), ("cup", "object", 0.93, []), ("saucer", "object", 0.8, []),
         ("table", "object", 0.76, [])],
        None,
    ),
    (
        "coffee.png", "social/food/latte-pour.mp4", "Latte pour", "Slow pour into a flat white.",
        ["coffee", "slow motion"],
        [("coffee", "object", 0.93, [(0, 10)]), ("pouring", "action", 0.88, [(1.5, 6.5)]),
         ("cup", "object", 0.9, [(0, 10)])],
        10,
    ),
    (
        "hubble_deep_field.jpg", "archive/space/hubble-deep-field.jpg", "Hubble deep field", "",
        ["space", "astronomy"],
        [("galaxy", "object", 0.94, []), ("stars", "object", 0.92, []),
         ("space", "object", 0.93, []), ("night sky", "object", 0.77, [])],
        None,
    ),
    (
        "hubble_deep_field.jpg", "archive/space/deep-field-zoom.mp4", "Deep field, slow zoom", "",
        ["astronomy"],
        [("galaxy", "object", 0.91, [(0, 14)]), ("zooming", "action", 0.84, [(0, 14)]),
         ("space", "object", 0.9, [(0, 14)]),
         ("stars", "object", 0.89, [(0, 14)])],
        14,
    ),
    (
        "moon.png", "archive/space/moon-surface.jpg", "Moon surface", "", ["astronomy"],
        [("moon", "object", 0.9, []), ("crater", "object", 0.86, []),
         ("space", "object", 0.81, [])],
        None,
    ),
    (
        "camera.png", "archive/people/cameraman-1990.jpg", "Cameraman, 1990",
        "From the print archive.",
        ["archive", "black and white"],
        [("person", "object", 0.93, []), ("camera", "object", 0.9, []),
         ("tripod", "object", 0.84, []),
         ("photographing", "action", 0.81, [])],
        None,
    ),
    (
        "coins.png", "archive/objects/old-coins.jpg", "Old coins", "", ["archive"],
        [("coin", "object", 0.95, []), ("money", "object", 0.83, [])],
        None,
    ),
    (
        "brick.png", "social/backgrounds/brick-wall.jpg", "Brick wall", "", ["background"],
        [("brick wall", "object", 0.95, []), ("texture", "object", 0.81, [])],
        None,
    ),
    (
        "retina.jpg", "research/medical/retina-scan.jpg", "Retina scan", "", ["research"],
        [("eye", "object", 0.74, []), ("medical", "object", 0.71, [])],
        None,
    ),
]  # fmt: skip


def sample(name: str) -> Image.Image:
    """A picture of scikit-image's sample data (installed with it, nothing downloaded)."""
    with Image.open(Path(samples.data_dir) / name) as image:
        return image.convert("RGB")


def poster(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    copy = image.copy()
    copy.thumbnail((POSTER_PX, POSTER_PX))
    copy.save(path, "JPEG", quality=88)


def video(image: Image.Image, path: Path, seconds: int, work: Path) -> None:
    """A slow zoom over the picture (H.264, as cameras and phones deliver it)."""
    still = work / f"{path.stem}.png"
    image.resize((VIDEO_PX[0] * 2, int(VIDEO_PX[0] * 2 * image.height / image.width))).save(still)
    frames = seconds * VIDEO_FPS
    size = f"{VIDEO_PX[0]}x{VIDEO_PX[1]}"
    zoom = f"zoompan=z='min(zoom+0.0012,1.4)':d={frames}:s={size}:fps={VIDEO_FPS}"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(still), "-vf", zoom,
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-t", str(seconds),
         str(path)],
        check=True,
    )  # fmt: skip


def seed(settings: Settings, work: Path) -> SqliteStore:
    store = SqliteStore(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    assets = []
    for i, (name, path, title, description, keywords, tags, seconds) in enumerate(DEMO):
        image = sample(name)
        target = settings.library_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if seconds:
            video(image, target, seconds, work)
            width, height, fmt, codec = *VIDEO_PX, "mp4", "h264"
        else:
            image.save(target, "JPEG", quality=90)
            width, height, fmt, codec = image.width, image.height, "jpeg", "mjpeg"
        asset = Asset.model_validate(
            {
                "path": path,
                "media_type": "video" if seconds else "image",
                "title": title,
                "description": description,
                "keywords": keywords,
                "size_bytes": target.stat().st_size,
                "format": fmt,
                "codec": codec,
                "duration_s": float(seconds) if seconds else None,
                "width": width,
                "height": height,
                "smart_tags": [
                    {"tag": t, "kind": k, "confidence": c, "segments": s} for t, k, c, s in tags
                ],
                "status": "tagged",
                "model_id": MODEL_ID,
                "tagged_at": now - timedelta(hours=len(DEMO) - i),
                "created_at": now - timedelta(days=len(DEMO) - i),
                "library_root": str(settings.library_dir),
            }
        )
        poster(image, settings.thumbnail_path(asset.id))
        assets.append(asset)
    store.upsert_many(assets)
    by_path = {a.path: a.id for a in assets}
    launch = by_path["campaigns/space-week/launch-day.mp4"]
    for action, tag in (
        (ModerationAction.promote, "launching"),
        (ModerationAction.add, "hero shot"),
        (ModerationAction.remove, "crowd"),
    ):
        moderate(store, launch, action, tag, "key:ana", settings.write_retries)
    edit_metadata(
        store, launch, {"title": "Launch day at the pad"}, "key:ana", 0, settings.audit_value_chars
    )
    edit_metadata(
        store,
        launch,
        {"description": DEMO[0][3] + " Hero of the campaign."},
        "key:ben",
        settings.write_retries,
        settings.audit_value_chars,
    )
    cat = by_path["social/pets/ginger-cat.jpg"]
    moderate(store, cat, ModerationAction.add, "mascot", "key:ben", settings.write_retries)
    for folder, video_toggle, image_toggle in (
        ("archive", Toggle.disable, None),
        ("research", None, Toggle.disable),
        ("archive/space", Toggle.enable, None),
    ):
        set_folder(store, settings, folder, video_toggle, image_toggle, "key:ana")
    return store


def training_report(settings: Settings) -> None:
    run, _ = claim_run(settings)
    rows = [
        TagReport("space week", 64, 412, 0, 0.93, 0.9, 0.91, 0.58, 0.81, "trained"),
        TagReport("hero shot", 41, 435, 2, 0.88, 0.83, 0.85, 0.61, 0.74, "trained"),
        TagReport("product", 36, 440, 5, 0.84, 0.81, 0.82, 0.55, 0.7, "trained"),
        TagReport("lifestyle", 18, 458, 1, 0.72, 0.61, 0.66, 0.49, 0.52, "needs more examples"),
        TagReport("mascot", 9, 467, 0, 0.8, 0.44, 0.57, 0.52, 0.66, "needs more examples"),
        TagReport("behind the scenes", 2, 474, 0, None, None, None, None, None, "not trained"),
    ]
    record = TrainingRecord(
        run=run,
        started="2026-03-07T00:30:00+00:00",
        finished="2026-03-07T00:41:12+00:00",
        state="done",
        folder="",
        tags_requested=[],
        model_id=MODEL_ID,
        counts={"assets": 476, "tags": len(rows), "trained": 3},
        tags=rows,
    )
    save_record(settings, record)


def jobs(settings: Settings) -> None:
    queue = JobQueue(settings)
    store = queue.jobs
    now = datetime.now(UTC)

    def add(minutes_ago: float, **fields: object) -> None:
        created = now - timedelta(minutes=minutes_ago)
        record = JobRecord(created_at=created, heartbeat_at=now, id=uuid_hex(), **fields)
        store.add(record)

    add(
        42, kind="reprocess", state=JobState.done, actor="key:ana", total=9, done=9,
        params={"mode": "retag", "folder": "campaigns", "asset_ids": []},
        started_at=now - timedelta(minutes=41), finished_at=now - timedelta(minutes=39),
        summary={"tagged": 9, "unchanged": 0, "skipped": 0},
    )  # fmt: skip
    add(
        25, kind="index", state=JobState.done, actor="key:ben", total=3, done=3,
        params={"paths": ["social/food/a.jpg", "social/food/b.mp4", "social/food/c.mov"]},
        started_at=now - timedelta(minutes=25), finished_at=now - timedelta(minutes=24),
        summary={"tagged": 1, "failed": 1, "skipped": 1},
        errors=[
            {"path": "social/food/b.mp4", "status": "failed", "reason": "corrupt"},
            {"path": "social/food/c.mov", "status": "skipped", "reason": "no_video_stream"},
        ],
    )  # fmt: skip
    add(
        6, kind="reprocess", state=JobState.running, actor="key:ana", total=12, done=7,
        params={"mode": "full", "folder": "archive", "asset_ids": []},
        started_at=now - timedelta(minutes=5), current="archive/space/moon-surface.jpg",
        worker="render-02:4121", attempt=1,
    )  # fmt: skip
    add(1, kind="train", state=JobState.queued, actor="key:ana", params={"folder": "", "tags": []})
    queue.close()


def uuid_hex() -> str:
    import uuid

    return uuid.uuid4().hex[:16]


class Shooter:
    def __init__(self, driver, url: str, out: Path) -> None:
        self.driver = driver
        self.url = url
        self.out = out

    def wait(self, css: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, WAIT_S).until(lambda d: d.find_elements(By.CSS_SELECTOR, css))

    def open(self, hash_: str, ready: str) -> None:
        self.driver.get("about:blank")  # a fresh load, not only a new hash
        self.driver.get(f"{self.url}/{hash_}")
        self.wait(ready)
        self.settle()

    def settle(self) -> None:
        """Posters decoded, transitions over."""
        self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "Promise.all([...document.images].filter(i => i.src && !i.complete)"
            ".map(i => new Promise(r => { i.onload = i.onerror = r; })))"
            ".then(() => setTimeout(done, 600));"
        )

    def shot(self, name: str, full: bool = False) -> None:
        size = self.driver.get_window_size()
        width, height = size["width"], size["height"]
        if full:
            page, inner = self.driver.execute_script(
                "return [document.documentElement.scrollHeight, window.innerHeight]"
            )
            frame = height - inner  # the window's own bars
            self.driver.set_window_size(width, min(max(page, inner), MAX_PAGE_HEIGHT) + frame)
            self.settle()
        path = self.out / f"{name}.png"
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(width, height)
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def upload_two(shooter: Shooter, work: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = shooter.driver
    files = []
    for name, file_name in (("chelsea.png", "office-cat.jpg"), ("astronaut.png", "crew-photo.jpg")):
        path = work / file_name
        sample(name).save(path, "JPEG", quality=90)
        files.append(str(path))
    shooter.open("#/upload", "#dropzone")
    folder = driver.find_element(By.ID, "upload-folder")
    folder.clear()
    folder.send_keys("social/new")
    driver.find_element(By.ID, "upload-files").send_keys("\n".join(files))
    deadline = time.monotonic() + 180
    while len(driver.find_elements(By.CSS_SELECTOR, ".upload-link")) < len(files):
        if time.monotonic() > deadline:
            raise SystemExit("the uploads did not finish within 3 minutes")
        time.sleep(0.5)


def shoot_every_page(shooter: Shooter, secret: str, work: Path) -> None:
    driver = shooter.driver
    shooter.open("#/search", "#api-key")
    shooter.shot("signin")
    driver.execute_script("sessionStorage.setItem('smarttags.apiKey', arguments[0])", secret)
    shooter.open("#/search?q=space", ".result img[src]")
    shooter.shot("search")
    launch = Asset.model_validate({"path": DEMO[0][1], "media_type": "video"}).id
    shooter.open(f"#/asset/{launch}?q=space", ".tags-table")
    shooter.shot("asset", full=True)
    shooter.open("#/folders?folder=archive", ".folders-table")
    shooter.shot("folders")
    upload_two(shooter, work)
    shooter.settle()
    shooter.shot("upload")
    shooter.open("#/jobs", ".jobs")
    shooter.shot("jobs", full=True)
    shooter.open("#/training", ".report-table")
    shooter.shot("training", full=True)
    if driver.find_elements("css selector", 'a[href="#/review"]'):  # issue 15's queue
        shooter.open("#/review", ".review-list, .empty")
        shooter.shot("review")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--keep", type=Path, help="seed into this folder and keep it")
    args = parser.parse_args()
    require_browser()
    from tests.tiny_model import write_tiny_model
    from tests.workers import worker_thread

    work = Path(tempfile.mkdtemp(prefix="smarttags-shots-"))
    base = args.keep or work
    config, checkpoint = write_tiny_model(work / "model")
    settings = Settings(
        data_dir=base / "data",
        library_root=base / "library",
        model=str(config),
        pretrained=str(checkpoint),
        inference_runtime="torch",
        inference_precision="fp32",
        schedule_enabled=False,
        key_cache_s=0,
        job_stale_after_s=3600,  # the seeded running job has no worker behind it
    )
    store = seed(settings, work)
    training_report(settings)
    jobs(settings)
    keys = open_key_store(settings)
    secret = create_key(keys, "ana", Role.admin)[1]
    keys.close()
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with (
            worker_thread(settings),
            ServerThread(create_app(settings, store)) as server,
            chromium() as driver,
        ):
            shoot_every_page(Shooter(driver, server.url, args.out), secret, work)
    finally:
        store.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
