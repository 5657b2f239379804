"""The ingest pipeline: files in, tagged asset documents out, with no per-asset overhead.

- Decoding: `decode_workers` threads probe, hash and decode upcoming files (images with PIL in
  this process, decoded once for the poster and the frame; videos through one ffmpeg
  process where the keyframes allow), ahead of the encoder.
- Encoding: the calling thread gathers frames of any number of assets into batches of
  `encode_batch_size`, and encodes a batch when it is full or when no decoded frame is
  waiting, so the encoder never idles for a batch to fill.
- Writing: finished assets are written `write_batch_assets` at a time (or after
  `write_batch_s`) through one compare-and-set per batch that keeps the moderation overlay
  (catalog.curation.save_processed_many).

An asset is written once, whole, after its file is done: a run killed half-way leaves no
half-written asset, and the next run skips what is already done (same fingerprint).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from catalog.asset import Asset, AssetStatus, MediaType, utc_now
from catalog.curation import save_processed_many, update_asset
from catalog.folders import FolderPolicy
from catalog.settings import Settings
from catalog.store import AssetStore, StoreError
from catalog.vectors import CLEAR_VECTORS, VectorUpdate
from indexer.custom_tags import CustomTagger, apply_custom_tags
from indexer.engine import Preparing, TaggingEngine
from indexer.ffmpeg_tools import FfmpegNotFound
from indexer.frames import Frame, image_frame, iter_frames, upright_image
from indexer.limits import MISSING_FILE, SKIPPED, vanished
from indexer.pictures import decode_size
from indexer.probe import MediaRejected, ProbeResult, probe
from indexer.scan import FileTask
from indexer.thumbnails import find_poster, write_image_poster, write_poster

Progress = Callable[[int, int, str], None]
DISABLED_REASON = "smart_tags_disabled"


@dataclass
class Outcome:
    path: str
    id: str
    status: str
    reason: str | None = None


@dataclass
class IndexSummary:
    tagged: int = 0
    unchanged: int = 0
    catalogued: int = 0  # metadata and poster only: smart tags are disabled for the folder
    from_cache: int = 0  # of `tagged`: re-scored from cached embeddings, nothing decoded
    skipped: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    assets: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.assets.append(outcome)
        if outcome.status == "tagged":
            self.tagged += 1
            self.from_cache += outcome.reason == "from_cache"
        elif outcome.status == "unchanged":
            self.unchanged += 1
        elif outcome.status == "catalogued":
            self.catalogued += 1
        elif outcome.status == "skipped":
            self.skipped[outcome.reason or "unknown"] += 1
        else:
            self.failed[outcome.reason or "unknown"] += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "tagged": self.tagged,
            "unchanged": self.unchanged,
            "catalogued": self.catalogued,
            "from_cache": self.from_cache,
            "skipped": dict(self.skipped),
            "failed": dict(self.failed),
            "assets": [o.__dict__ for o in self.assets],
        }


# messages from the producer thread
@dataclass
class _Unchanged:
    task: FileTask


@dataclass
class _Rejected:
    task: FileTask
    existing: Asset | None
    error: MediaRejected
    fingerprint: str


@dataclass
class _Catalogued:
    task: FileTask
    existing: Asset | None
    probe: ProbeResult
    content_hash: str
    fingerprint: str
    reason: str


@dataclass
class _Chunk:
    task: FileTask
    frames: list[Frame]


@dataclass
class _Decoded:
    task: FileTask
    existing: Asset | None
    probe: ProbeResult
    content_hash: str
    fingerprint: str
    cached: tuple[np.ndarray, list[float]] | None


_DONE = object()


@dataclass
class _Fatal:
    """A failure of the whole run, not of one file (no ffmpeg, the store gone): it stops."""

    error: BaseException


# what no other file would escape either: raised from the run instead of failing each file
RUN_ERRORS: tuple[type[BaseException], ...] = (FfmpegNotFound, StoreError)


@dataclass
class _FrameBatch:
    """Frames waiting for the encoder, each with the key of its asset."""

    frames: list[tuple[int, Frame]] = field(default_factory=list)

    def add(self, key: int, frames: list[Frame]) -> None:
        self.frames += [(key, frame) for frame in frames]


@dataclass
class _InFlight:
    """An asset between its first decoded frame and its write."""

    embeddings: list[np.ndarray] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)
    waiting: int = 0  # frames handed to the batch, not encoded yet
    last: Any = None  # the producer's closing message, once it came

    @property
    def ready(self) -> bool:
        return self.last is not None and self.waiting == 0


class IndexRun:
    def __init__(
        self,
        settings: Settings,
        store: AssetStore,
        engine: TaggingEngine,
        reprocess: bool = False,
        progress: Progress | None = None,
        use_cache: bool = True,
        preparing: Preparing | None = None,
    ) -> None:
        """`reprocess`: process unchanged files too; `use_cache=False`: decode and encode
        again even when the embedding cache has the file (`reindex --full`); `preparing`
        hears about the one-time model export and vocabulary embedding."""
        self.settings = settings
        self.store = store
        self.engine = engine
        self.reprocess = reprocess
        self.use_cache = use_cache
        self.progress = progress or (lambda done, total, current: None)
        self.preparing = preparing
        self._stop = threading.Event()
        self._writes: list[tuple[Asset, bool]] = []
        self._vectors: dict[str, VectorUpdate] = {}
        self._writes_since = 0.0
        self.policy = FolderPolicy([], settings.smart_tags_enabled_by_default)
        self.custom: CustomTagger | None = None

    def run(self, tasks: list[FileTask]) -> IndexSummary:
        with threadpool_limits(limits=self.settings.index_blas_threads, user_api="blas"):
            return self._run(tasks)

    def _run(self, tasks: list[FileTask]) -> IndexSummary:
        self.engine.prepare(self.preparing)
        self.custom = CustomTagger.latest(self.settings, self.engine.model_id)
        self.policy = FolderPolicy(
            self.store.folder_settings(), self.settings.smart_tags_enabled_by_default
        )
        summary = IndexSummary()
        inbox: queue.Queue = queue.Queue(maxsize=self.settings.prefetch_assets)
        pending = iter(tasks)
        lock = threading.Lock()
        workers = [
            threading.Thread(target=self._produce, args=(pending, lock, inbox), daemon=True)
            for _ in range(min(self.settings.decode_workers, max(len(tasks), 1)))
        ]
        for worker in workers:
            worker.start()
        try:
            self._consume(inbox, summary, len(tasks), len(workers))
        finally:
            self._stop.set()
            while any(worker.is_alive() for worker in workers):  # unblock full-queue waits
                try:
                    inbox.get_nowait()
                except queue.Empty:
                    time.sleep(0.01)
        return summary

    # producer side: probe, cache lookup, decode
    def _produce(self, pending: Iterator[FileTask], lock: threading.Lock, inbox: queue.Queue):
        try:
            while not self._stop.is_set():
                with lock:
                    task = next(pending, None)
                if task is None:
                    break
                self._produce_one(task, inbox)
        finally:
            inbox.put(_DONE)  # always, once per worker: the consumer must never wait forever

    def _produce_one(self, task: FileTask, inbox: queue.Queue) -> None:
        try:
            for message in self._prepare(task):
                inbox.put(message)
        except MediaRejected as exc:
            inbox.put(_Rejected(task, self._existing(task), exc, ""))
        except FileNotFoundError as exc:  # limits: removed between the scan and now
            error = MediaRejected(SKIPPED, MISSING_FILE, vanished(exc))
            inbox.put(_Rejected(task, self._existing(task), error, ""))
        except RUN_ERRORS as exc:
            self._stop.set()
            inbox.put(_Fatal(exc))
        except Exception as exc:  # one bad file must not stop the run
            error = MediaRejected(
                AssetStatus.failed, "internal_error", f"{type(exc).__name__}: {exc}"
            )
            inbox.put(_Rejected(task, self._existing(task), error, ""))

    def _existing(self, task: FileTask) -> Asset | None:
        try:
            return self.store.get(task.asset_id)
        except Exception:
            return None

    def _prepare(self, task: FileTask) -> Iterator[Any]:
        if task.skip:  # limits: e.g. a link out of the library, never opened
            raise MediaRejected(SKIPPED, task.skip, task.skip_detail)
        existing = self.store.get(task.asset_id)
        fingerprint = self.engine.fingerprint(task.path)
        if (
            not self.reprocess
            and existing
            and existing.fingerprint == fingerprint
            and not self._policy_changed(existing)
        ):
            yield _Unchanged(task)
            return
        try:
            found = probe(task.path, self.settings)
        except MediaRejected as exc:
            yield _Rejected(task, existing, exc, fingerprint)
            return
        digest = self.engine.content_hash(task.path)
        same_content = existing is not None and existing.content_hash == digest
        picture = None
        if not (same_content and find_poster(self.settings, task.asset_id)):
            picture = self._poster(task, found)
        effective = self.policy.effective(_folder_of(task.rel), found.media_type)
        if not effective.enabled:
            reason = (
                f"{DISABLED_REASON}: smart tags are disabled for {found.media_type.value}s "
                f"here, {effective.describe()}"
            )
            yield _Catalogued(task, existing, found, digest, fingerprint, reason)
            return
        cached = self.engine.cached_embeddings(digest) if self.use_cache else None
        if cached is None:
            yield from self._chunks(task, found, picture)
        yield _Decoded(task, existing, found, digest, fingerprint, cached)

    def _poster(self, task: FileTask, found: ProbeResult) -> Any:
        """Write the poster; for an image, return the decoded picture for its frame too."""
        if found.is_video:
            write_poster(task.path, found, self.settings, task.asset_id)
            return None
        picture = upright_image(task.path, self._image_longest())
        write_image_poster(picture, self.settings, task.asset_id)
        return picture

    def _image_longest(self) -> int:
        return decode_size(self.engine.image_size, self.settings.thumbnail_px)

    def _chunks(self, task: FileTask, found: ProbeResult, picture: Any) -> Iterator[_Chunk]:
        size = self.engine.image_size
        if not found.is_video:
            picture = picture or upright_image(task.path, self._image_longest())
            yield _Chunk(task, [image_frame(picture, size)])
            return
        chunk: list[Frame] = []
        for frame in iter_frames(task.path, found, self.settings, size):
            chunk.append(frame)
            if len(chunk) >= self.settings.encode_batch_size:
                yield _Chunk(task, chunk)
                chunk = []
        if chunk:
            yield _Chunk(task, chunk)

    def _policy_changed(self, existing: Asset) -> bool:
        """A folder setting changed since the asset was processed: process it again."""
        enabled = self.policy.effective(existing.folder, existing.media_type).enabled
        was_disabled = existing.status is AssetStatus.catalogued and (
            existing.status_reason or ""
        ).startswith(DISABLED_REASON)
        return (enabled and was_disabled) or (not enabled and existing.status is AssetStatus.tagged)

    # consumer side: encode across assets, tag, write in batches
    def _consume(
        self, inbox: queue.Queue, summary: IndexSummary, total: int, producers: int
    ) -> None:
        """Encode here; tag and write in a finisher thread, so that the encoder does not wait
        for that Python work (the runtimes release the GIL while they compute)."""
        finisher = _Finisher(self, summary, total)
        finisher.start()
        try:
            self._encode_all(inbox, finisher, total, producers)
        finally:
            finisher.close()

    def _encode_all(
        self, inbox: queue.Queue, finisher: _Finisher, total: int, producers: int
    ) -> None:
        batch = _FrameBatch()
        assets: dict[int, _InFlight] = {}
        running = producers
        while running:
            try:  # with frames waiting, encode rather than wait for more
                message = inbox.get(block=not batch.frames)
            except queue.Empty:
                self._encode(batch, assets, finisher)
                continue
            if message is _DONE:
                running -= 1
                continue
            if isinstance(message, _Fatal):
                raise message.error
            state = assets.setdefault(id(message.task), _InFlight())
            if isinstance(message, _Chunk):
                state.waiting += len(message.frames)
                batch.add(id(message.task), message.frames)
                self.progress(finisher.done, total, message.task.rel)
                if len(batch.frames) >= self.settings.encode_batch_size:
                    self._encode(batch, assets, finisher)
                continue
            state.last = message
            _hand_over_ready(assets, finisher)
        self._encode(batch, assets, finisher)

    def _encode(
        self, batch: _FrameBatch, assets: dict[int, _InFlight], finisher: _Finisher
    ) -> None:
        if batch.frames:
            embeddings = self.engine.encode([frame.rgb for _, frame in batch.frames])
            for (key, frame), vector in zip(batch.frames, embeddings, strict=True):
                state = assets[key]
                state.embeddings.append(vector)
                state.stamps.append(frame.timestamp_s)
                state.waiting -= 1
            batch.frames.clear()
        _hand_over_ready(assets, finisher)

    def finish_one(self, state: _InFlight) -> Outcome:
        embeddings = [np.stack(state.embeddings)] if state.embeddings else []
        return self._finish(state.last, embeddings, state.stamps)

    def writes_due(self) -> bool:
        return bool(self._writes) and (
            len(self._writes) >= self.settings.write_batch_assets
            or time.monotonic() - self._writes_since >= self.settings.write_batch_s
        )

    def _finish(self, message: Any, embeddings: list[np.ndarray], stamps: list[float]) -> Outcome:
        task = message.task
        if isinstance(message, _Unchanged):
            return Outcome(task.rel, task.asset_id, "unchanged")
        if isinstance(message, _Rejected):
            self._save_rejected(message)
            err = message.error
            return Outcome(task.rel, task.asset_id, str(err.status), str(err.reason))
        if isinstance(message, _Catalogued):
            # smart tags are off here: no model output stays searchable, vectors included
            self._save(self._catalogued_asset(message), keep_custom=False, vectors=CLEAR_VECTORS)
            return Outcome(task.rel, task.asset_id, "catalogued", DISABLED_REASON)
        try:
            self._save(*self._tagged_asset(message, embeddings, stamps))
        except MediaRejected as err:
            self._save_rejected(_Rejected(task, message.existing, err, message.fingerprint))
            return Outcome(task.rel, task.asset_id, str(err.status), str(err.reason))
        return Outcome(task.rel, task.asset_id, "tagged")

    def _save(
        self, asset: Asset, keep_custom: bool = True, vectors: VectorUpdate = None
    ) -> None:
        """Queue the asset (and what happens to its vectors) for the next batched write."""
        if not self._writes:
            self._writes_since = time.monotonic()
        self._writes.append((asset, keep_custom))
        if vectors is not None:
            self._vectors[asset.id] = vectors

    def _flush_writes(self) -> None:
        if self._writes:
            save_processed_many(
                self.store, self._writes, self.settings.write_retries, self._vectors
            )
            self._writes = []
            self._vectors = {}

    def _save_rejected(self, msg: _Rejected) -> None:
        """Record what went wrong over what is stored now, losing nothing of it."""

        def change(current: Asset | None) -> Asset:
            return self._rejected_asset(_Rejected(msg.task, current, msg.error, msg.fingerprint))

        update_asset(self.store, msg.task.asset_id, change, self.settings.write_retries)

    def _catalogued_asset(self, msg: _Catalogued) -> Asset:
        return asset_from_probe(
            msg.task,
            msg.existing,
            msg.probe,
            smart_tags=[],
            status=AssetStatus.catalogued,
            status_reason=msg.reason,
            content_hash=msg.content_hash,
            fingerprint=msg.fingerprint,
            model_id=None,
            tagged_at=None,
        )

    def _tagged_asset(
        self, msg: _Decoded, embeddings: list[np.ndarray], stamps: list[float]
    ) -> tuple[Asset, bool, VectorUpdate]:
        """The tagged asset, whether to keep its stored custom tags, and its vectors."""
        if msg.cached is not None:
            frame_embeddings, stamps = msg.cached
        elif embeddings:
            # tag from the cached form, so a later re-tag from the cache gives the same tags
            frame_embeddings = self.engine.store_embeddings(
                msg.content_hash, np.concatenate(embeddings), stamps
            )
        else:
            raise MediaRejected(AssetStatus.failed, "no_frames", "no frame could be decoded")
        found = msg.probe
        tags = self.engine.tag(frame_embeddings, stamps, found.duration_s, found.media_type)
        asset = asset_from_probe(
            msg.task,
            msg.existing,
            found,
            smart_tags=tags,
            status=AssetStatus.tagged,
            status_reason=None,
            content_hash=msg.content_hash,
            fingerprint=msg.fingerprint,
            model_id=self.engine.model_id,
            tagged_at=utc_now(),
        )
        vectors = self.engine.vectors(frame_embeddings, stamps, found.duration_s, found.media_type)
        return with_custom_tags(asset, self.custom, frame_embeddings, stamps), True, vectors

    def _rejected_asset(self, msg: _Rejected) -> Asset:
        err = msg.error
        update = {
            "status": AssetStatus(err.status),
            "status_reason": f"{err.reason}: {err.detail}",
            "fingerprint": msg.fingerprint or None,
            # where the file is, so that a reindex finds it again (and says the same)
            "library_root": str(msg.task.root),
        }
        if msg.existing is not None:  # keep what is stored; only say what went wrong
            return msg.existing.model_copy(update={**update, "updated_at": utc_now()})
        ext = msg.task.rel.rsplit(".", 1)[-1].lower()
        media = MediaType.video if ext in self.settings.video_formats else MediaType.image
        size = _size(msg.task)  # limits: the file may be gone, or lead out of the library
        return Asset.model_validate(
            {
                "id": msg.task.asset_id,
                "path": msg.task.rel,
                "media_type": media,
                "size_bytes": size,
                **update,
            }
        )


def _hand_over_ready(assets: dict[int, _InFlight], finisher: _Finisher) -> None:
    for key in [k for k, state in assets.items() if state.ready]:
        finisher.put(assets.pop(key))


class _Finisher(threading.Thread):
    """Tags encoded assets and writes them in batches, beside the encoding thread."""

    _CLOSE = object()

    def __init__(self, run: IndexRun, summary: IndexSummary, total: int) -> None:
        super().__init__(daemon=True)
        self.pipeline = run
        self.summary = summary
        self.total = total
        self.done = 0
        self._queue: queue.Queue = queue.Queue(maxsize=run.settings.write_batch_assets * 2)
        self._error: BaseException | None = None

    def put(self, state: _InFlight) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(state)

    def close(self) -> None:
        """Finish what was handed over, write it, and raise what went wrong, if anything."""
        self._queue.put(self._CLOSE)
        self.join()
        if self._error is not None:
            raise self._error

    def run(self) -> None:
        run = self.pipeline
        closed = False
        try:
            while True:
                try:
                    state = self._queue.get(timeout=run.settings.write_batch_s)
                except queue.Empty:
                    state = None
                if state is self._CLOSE:
                    closed = True
                    break
                if state is not None:
                    self.summary.add(run.finish_one(state))
                    self.done += 1
                    run.progress(self.done, self.total, state.last.task.rel)
                if run.writes_due():
                    run._flush_writes()
            run._flush_writes()
        except BaseException as error:  # handed to the encoding thread at its next put/close
            self._error = error
            # let the encoding thread finish (unless it already closed: the last write failed)
            while not closed and self._queue.get() is not self._CLOSE:
                pass


def with_custom_tags(
    asset: Asset, custom: CustomTagger | None, frames: np.ndarray, stamps: list[float]
) -> Asset:
    """The asset with the latest training run's custom tags, when there is one."""
    if custom is None:
        return asset
    tags = custom.tags(frames, stamps, asset.media_type, asset.duration_s)
    return apply_custom_tags(asset, tags, custom.run_id, utc_now())


def _size(task: FileTask) -> int | None:
    if task.skip:
        return None
    try:
        return task.path.stat().st_size
    except OSError:
        return None


def _folder_of(rel: str) -> str:
    return rel.rpartition("/")[0]


def asset_from_probe(
    task: FileTask, existing: Asset | None, found: ProbeResult, **processing: Any
) -> Asset:
    """The asset document for a processed file; curation and edited metadata are kept."""
    data: dict[str, Any] = existing.model_dump() if existing else {}
    if task.root is not None:
        processing.setdefault("library_root", str(task.root))
    data.update(
        id=task.asset_id,
        path=task.rel,
        media_type=found.media_type,
        size_bytes=found.size_bytes,
        format=found.format,
        codec=found.codec,
        duration_s=found.duration_s,
        width=found.width,
        height=found.height,
        updated_at=utc_now(),
        **processing,
    )
    for name in ("title", "description"):
        if not data.get(name):
            data[name] = getattr(found, name, "") or ""
    if not data.get("keywords"):
        data["keywords"] = list(getattr(found, "keywords", []) or [])
    data.pop("folder", None)
    data.pop("file_name", None)
    return Asset.model_validate(data)
