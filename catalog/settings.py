"""The one settings object: every default of smarttags lives here.

Values come from (highest first) explicit keyword arguments, environment variables with the
prefix ``SMARTTAGS_``, an optional TOML file (``SMARTTAGS_CONFIG_FILE``, or ``smarttags.toml``
in the working directory), then the defaults below.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from croniter import croniter
from platformdirs import user_data_dir
from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

BackendName = Literal["sqlite", "opensearch"]


def _config_file() -> Path | None:
    explicit = os.environ.get("SMARTTAGS_CONFIG_FILE")
    if explicit:
        return Path(explicit)
    local = Path("smarttags.toml")
    return local if local.is_file() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTTAGS_", extra="ignore")

    # storage
    data_dir: Path = Field(default_factory=lambda: Path(user_data_dir("smarttags")))
    library_root: Path | None = None  # where uploads land; None: <data_dir>/library
    upload_chunk_kb: int = 1024
    backend: BackendName | None = None  # None: OpenSearch when a URL is set, else SQLite
    sqlite_file: str = "smarttags.db"
    sqlite_cache_mb: int = 256
    sqlite_busy_timeout_s: float = 30.0
    # the change log other processes catch up from; a reader further behind rebuilds its index
    sqlite_change_log_keep: int = Field(200_000, ge=1)
    opensearch_url: str | None = None
    opensearch_index: str = "smarttags-assets"
    opensearch_timeout_s: float = 10.0
    opensearch_max_retries: int = 5
    opensearch_backoff_s: float = 0.5
    opensearch_bulk_chunk: int = 500
    # documents a rebuild copies per request: with its frame vectors a video is ~300 KB of JSON
    opensearch_copy_page: int = Field(50, ge=1)
    opensearch_verify_certs: bool = True

    # embedded term index (catalog/term_index.py): segments in memory, kept in step with SQLite
    index_merge_factor: int = Field(4, ge=1)  # merge the newest segment once it is 1/factor of
    index_max_segments: int = Field(8, ge=1)  # the one before, or when there are more than this
    index_rebuild_min_changes: int = Field(10_000, ge=0)  # behind by more than this and than
    # the index's size: rebuild it rather than catch up
    index_build_chunk: int = Field(100_000, ge=1)  # assets read at once while building
    # a built index is saved beside the database (memory-mapped by the next process) when it
    # holds this many assets; smaller ones build in well under a second
    index_cache_min_assets: int | None = Field(50_000, ge=0)  # None: never saved
    index_cache_record_timeout_s: float = Field(1.0, ge=0)  # wait for the write lock to record it

    # bulk import
    import_workers: int | None = Field(None, ge=0)  # parsing processes; None: one per CPU
    import_chunk_lines: int = Field(2_000, ge=1)  # lines handed to a parsing process at once
    import_batch: int = Field(2_000, ge=1)  # assets written per transaction

    # index rebuild
    # a rebuild copies again what was written since it began, less this margin: updated_at
    # has second precision, and writers' clocks may differ a little
    rebuild_catch_up_margin_s: float = Field(1.0, ge=0)

    # ranking contract
    min_object_confidence: float = Field(0.7, ge=0.0, le=1.0)
    min_action_confidence: float = Field(0.7, ge=0.0, le=1.0)
    min_custom_confidence: float = Field(0.7, ge=0.0, le=1.0)
    manual_tag_weight: float = 1.0
    promote_boost: float = Field(2.0, ge=1.0, le=16.0)
    weight_quantum: int = 256  # confidences are scored in steps of 1/quantum in both backends
    title_weight: int = 4
    keywords_weight: int = 3
    file_name_weight: int = 2
    description_weight: int = 1
    max_query_terms: int = 16
    max_query_chars: int = 10_000
    default_page_size: int = 20
    max_page_size: int = 200
    max_result_window: int = 10_000
    max_exact_total: int = Field(10_000, ge=1)  # totals beyond: a lower bound ("gte")

    # semantic search (README "Search by meaning"; catalog/vectors.py, query/semantic.py)
    # the mode a search runs in unless it names one; hybrid and semantic fall back to keyword
    # (with a notice) while the model's embeddings or the query encoder are not there
    search_mode: Literal["hybrid", "keyword", "semantic"] = "hybrid"
    # the floor of tier 4 and of semantic mode, on the tags' confidence scale: the query must
    # stand as far above a typical unrelated vocabulary label, for that asset, as a tag of this
    # confidence does (0.5: 3.5 robust standard deviations with the default calibration)
    semantic_min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    # moments: the frames within this share of a video's score range from its best frame, or
    # within moment_min_margin of it (a video of one look is one moment, not its noise)
    moment_share: float = Field(0.25, ge=0.0, le=1.0)
    moment_min_margin: float = Field(0.01, ge=0.0)
    max_moments: int = Field(5, ge=1)  # moments per video hit, best first
    query_embedding_cache: int = Field(1024, ge=0)  # recent query texts kept encoded
    query_image_max_mb: float = Field(20.0, gt=0)  # an example picture (POST /search/by-image)
    encoder_retry_s: float = Field(30.0, gt=0)  # a missing query encoder is looked for again
    # OpenSearch: how long a count of indexed embeddings is trusted (one request saved per search)
    vector_count_ttl_s: float = Field(10.0, ge=0)

    # indexer: media
    ffmpeg_binary: str | None = None  # None: ffmpeg on PATH, else imageio-ffmpeg's binary
    use_ffprobe: bool = True  # when ffprobe is on PATH; else ffmpeg's own report is parsed
    max_file_mb: float = Field(300.0, gt=0)  # larger files are skipped (uploads: refused, 413)
    max_image_megapixels: float = Field(100.0, gt=0)  # images and video frames; larger: skipped
    video_formats: list[str] = Field(
        default_factory=lambda: ["mp4", "mov", "m4v", "webm", "mkv", "avi"]
    )
    ffmpeg_timeout_s: float = Field(30.0, gt=0)  # one-shot runs: probe, decode check, poster
    decode_stall_timeout_s: float = Field(60.0, gt=0)  # longest wait for ffmpeg's next frame
    frame_mode: Literal["keyframes", "scene"] = "keyframes"
    scene_threshold: float = Field(0.3, gt=0.0, lt=1.0)
    max_frame_gap_s: float = Field(2.0, gt=0)  # at least one frame this often, even if static
    max_frames_per_s: float = Field(1.0, gt=0)
    max_frames_per_video: int = Field(600, ge=1)
    frame_scaler: str = "bicubic"  # swscale flags; CLIP's own preprocessing is bicubic
    thumbnail_px: int = Field(512, ge=16)  # longer side of a poster
    thumbnail_position: float = Field(0.1, ge=0.0, lt=1.0)  # poster frame, share of duration
    thumbnail_quality: int = Field(85, ge=1, le=95)

    # indexer: model and tagging
    model: str = "ViT-B-32"  # open_clip model name, or the path of an open_clip model-config JSON
    # open_clip pretrained tag, or a local checkpoint path; DataComp-XL weights: the same
    # ViT-B-32 cost as LAION-2B's, 69.2% instead of 66.6% zero-shot ImageNet (README table)
    pretrained: str = "datacomp_xl_s13b_b90k"
    hub_host: str = "huggingface.co"  # where pretrained tags are downloaded from
    hub_port: int = 443
    hub_probe_timeout_s: float = Field(2.0, gt=0)  # unreachable within this: offline at once
    weights_cache_dir: Path | None = None  # where fetched weights live; None: open_clip's default
    object_vocabulary: Path | None = None  # None: the shipped indexer/vocabularies/objects.txt
    action_vocabulary: Path | None = None  # None: the shipped indexer/vocabularies/actions.txt
    prompts_file: Path | None = None  # None: the shipped indexer/vocabularies/prompts.json
    # (center, scale) of the logistic over robust z-scores, keyed "model/pretrained", "model" or
    # "default"; see indexer/calibration.py. `smarttags calibrate` writes fitted entries to
    # <data_dir>/<calibration_file>, merged in here (a value configured for the same key wins)
    tag_calibration: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {"default": (3.5, 0.7)}
    )
    tag_topk_fraction: float = Field(0.1, gt=0.0, le=1.0)  # a tag's confidence over time is the
    tag_topk_min: int = Field(3, ge=1)  # mean of its top-k frames (or windows), k clamped here
    tag_topk_max: int = Field(5, ge=1)
    action_window_s: float = Field(3.0, gt=0)
    action_stride_s: float = Field(1.5, gt=0)
    segment_merge_gap_s: float = Field(1.0, ge=0)
    segment_min_s: float = Field(0.5, ge=0)
    max_tags_per_asset: int = Field(50, ge=1)  # stored candidates, most confident first
    embedding_cache_dtype: Literal["float16", "float32"] = "float16"
    content_hash_full_max_mb: float = Field(64.0, ge=0)  # larger files are hashed by samples
    content_hash_samples: int = Field(16, ge=2)
    content_hash_sample_kb: int = Field(1024, ge=1)

    # indexer: inference runtime (see indexer/runtime_choice.py and the README)
    # auto: the fastest path on this machine whose embeddings keep inference_min_cosine to
    # fp32 on the check set; onnx / torch, fp32 / int8 / bf16 force a runtime or a precision
    inference_runtime: Literal["auto", "onnx", "torch"] = "auto"
    inference_precision: Literal["auto", "fp32", "int8", "bf16"] = "auto"
    inference_device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when there is a GPU
    inference_min_cosine: float = Field(0.99, gt=0.0, le=1.0)
    # a path within this share of the fastest counts as fast as it; ONNX Runtime wins such a
    # tie, since it starts without torch and takes less memory
    inference_tie_share: float = Field(0.25, ge=0.0, lt=1.0)
    inference_threads: int | None = Field(None, ge=1)  # None: one per CPU core
    encode_batch_size: int = Field(32, ge=1)  # frames per encoder call, across assets
    text_batch_size: int = Field(128, ge=1)  # prompts per text-encoder call
    runtime_check_images: int = Field(8, ge=2)  # generated check-set images
    runtime_check_repeats: int = Field(2, ge=1)  # timed passes over the check set per path

    # indexer: pipeline
    decode_workers: int = Field(2, ge=1)  # threads probing and decoding files ahead
    prefetch_assets: int = Field(16, ge=1)  # decoded assets waiting for the encoder
    write_batch_assets: int = Field(32, ge=1)  # tagged assets written per store transaction
    write_batch_s: float = Field(2.0, gt=0)  # ... or after this long, whichever comes first
    # numpy's BLAS threads during a run: the encoder owns the cores, and the tagging's small
    # products gain nothing from a thread pool that would spin against it
    index_blas_threads: int = Field(1, ge=1)

    # curation and folders
    smart_tags_enabled_by_default: bool = True  # where no folder up the tree says otherwise
    write_retries: int = Field(20, ge=0)  # optimistic-concurrency retries of one asset update
    max_manual_tags: int = Field(200, ge=1)  # manual tags one asset may hold
    audit_page_size: int = Field(100, ge=1)

    # candidates, calibration, learned thresholds and the review queue (catalog/tag_thresholds.py)
    # machine tags at or above the floor are stored (candidates); the kind thresholds above and
    # the learned per-tag thresholds choose among them at query time, so changing them
    # reprocesses nothing. A threshold below the floor acts as the floor.
    tag_storage_floor: float = Field(0.3, ge=0.0, le=1.0)
    # a frame (or action window) belongs to a tag's segments at or above this confidence, or at
    # the tag's own confidence where that is lower (a suggestion still shows where it is seen)
    segment_confidence: float = Field(0.7, ge=0.0, le=1.0)
    calibration_file: str = "calibration.json"  # fitted calibrations, under the data dir
    calibration_bins: int = Field(10, ge=2)  # reliability diagram and expected calibration error
    calibration_min_labels: int = Field(10, ge=2)  # labelled pairs a fit needs (both classes)
    # curation feedback: a removal is a negative, a promotion or a manual add of a machine
    # candidate a positive; with this many verdicts a tag's threshold is learned
    tag_feedback_min: int = Field(10, ge=1)
    tag_target_precision: float = Field(0.9, gt=0.0, le=1.0)  # what a learned threshold aims at
    tag_feedback_window: int = Field(500, ge=1)  # the newest audit entries read per tag
    tag_threshold_cache_s: float = Field(2.0, ge=0)  # learned thresholds reach other processes
    review_recent_assets: int = Field(1000, ge=1)  # the review queue's assets: tagged last

    # metadata edits and the folder tree (PATCH /assets/{id}, GET /folders/tree, the web UI)
    max_title_chars: int = Field(500, ge=1)
    max_description_chars: int = Field(10_000, ge=1)
    max_keywords: int = Field(200, ge=1)  # keywords one asset may hold after an edit
    max_keyword_chars: int = Field(100, ge=1)
    audit_value_chars: int = Field(200, ge=8)  # an edited text as the audit log keeps it
    max_tree_folders: int = Field(10_000, ge=1)  # folders GET /folders/tree lists at most

    # custom (trained) tags
    custom_min_examples: int = Field(30, ge=1)  # positives a tag needs to be `trained`
    custom_min_f1: float = Field(0.8, ge=0.0, le=1.0)  # cross-validated F1 a tag needs
    custom_min_positives_to_fit: int = Field(3, ge=2)  # fewer: the tag is `not trained`
    custom_small_image_px: int = Field(500, ge=1)  # longer side under this counts as small
    custom_cv_folds: int = Field(5, ge=2)
    custom_store_min_confidence: float = Field(0.3, ge=0.0, le=1.0)  # weaker are not stored
    custom_regularization: float = Field(1.0, gt=0)  # inverse L2 strength of the classifier
    custom_max_iter: int = Field(1000, ge=10)  # solver iterations of one classifier fit
    custom_random_seed: int = 0  # cross-validation folds: the same data gives the same report
    retag_after_on_demand_h: float = Field(24.0, ge=0)  # unaltered assets: re-tag when older
    retag_after_scheduled_days: float = Field(182.0, ge=0)
    schedule_enabled: bool = True  # `serve` runs training and tagging on the cron schedules
    training_cron: str = "30 0 * * 6"  # weekly, Saturday 00:30 (server local time)
    tagging_cron: str = "0 0 * * *"  # daily at midnight

    # jobs, the queue and workers (catalog/jobs.py, catalog/queue.py)
    redis_url: str | None = None  # the shared queue for several machines; None: SQLite queue
    queue_name: str = "smarttags"  # the Huey queue's name (its Redis keys, its SQLite tables)
    queue_file: str = "queue.db"  # the embedded queue, under the data dir
    jobs_file: str = "jobs.db"  # job records and worker heartbeats (SQLite backend)
    worker_concurrency: int = Field(1, ge=1)  # jobs one worker process runs at once
    queue_poll_initial_s: float = Field(0.1, gt=0)  # an idle SQLite queue is polled this often,
    queue_poll_backoff: float = Field(1.15, ge=1.0)  # backing off by this factor
    queue_poll_max_s: float = Field(1.0, gt=0)  # up to this: the worst pick-up latency
    job_heartbeat_s: float = Field(1.0, gt=0)  # a running job's progress and heartbeat writes
    job_stale_after_s: float = Field(30.0, gt=0)  # no heartbeat this long: its worker is gone
    job_max_attempts: int = Field(2, ge=1)  # a job whose worker died is retried up to this
    job_retention_h: float = Field(168.0, gt=0)  # finished job records are deleted after this
    job_list_limit: int = Field(50, ge=1)  # `GET /jobs` and `smarttags jobs` default
    worker_heartbeat_s: float = Field(5.0, gt=0)  # a worker's own heartbeat (for /healthz)
    maintenance_interval_s: float = Field(10.0, gt=0)  # stale jobs are looked for this often
    worker_stop_timeout_s: float = Field(600.0, gt=0)  # `serve --with-worker` waits for jobs

    # metrics and health checks (`GET /metrics`, query/metrics.py; smarttags/healthcheck.py)
    metrics_rate_window_s: float = Field(300.0, gt=0)  # the indexing rate covers this past
    metrics_rate_max_jobs: int = Field(200, ge=1)  # newest indexing jobs read, per kind
    healthcheck_timeout_s: float = Field(4.0, gt=0)  # the container check's wait for /healthz

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int | None = Field(None, ge=1)  # API processes; None: one per CPU
    api_max_body_kb: int = Field(1024, ge=1)  # JSON request bodies (uploads: max_file_mb)
    # uploads: a file larger than max_file_mb is refused at that point of the stream; the
    # multipart framing around it may add this much before Content-Length says "too large"
    upload_overhead_kb: int = Field(64, ge=1)
    max_path_bytes: int = Field(1024, ge=1)  # an uploaded file's library path (UTF-8 bytes)

    _explicit_calibration: dict[str, tuple[float, float]] = PrivateAttr(default_factory=dict)

    # access: API keys and roles (catalog/keys.py)
    keys_file: str = "keys.db"  # the keys' digests (SQLite backend), under the data dir
    key_cache_s: float = Field(2.0, ge=0)  # a revoked key stops working within this
    # Deprecated: keys (name -> key) of the old keys-for-writes-only scheme. Read once by the
    # API and `smarttags keys`, which store their digests as admin keys; then remove it.
    api_keys: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = _config_file()
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    @field_validator("training_cron", "tagging_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a valid cron expression (e.g. '30 0 * * 6')")
        return value

    @field_validator("opensearch_url", "redis_url")
    @classmethod
    def _blank_url_is_none(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _fitted_calibration(self) -> Settings:
        """Merge the calibrations `smarttags calibrate` fitted; a configured key wins."""
        explicit = "tag_calibration" in self.model_fields_set
        self._explicit_calibration = dict(self.tag_calibration) if explicit else {}
        fitted = read_calibration_file(self.calibration_path)
        if fitted:
            configured = self.tag_calibration
            merged = {**fitted, **configured} if explicit else {**configured, **fitted}
            object.__setattr__(self, "tag_calibration", merged)  # not marked as set
        return self

    @property
    def explicit_calibration(self) -> dict[str, tuple[float, float]]:
        """The tag_calibration entries configured (keywords, environment, TOML), which win
        over the fitted ones."""
        return self._explicit_calibration

    @property
    def calibration_path(self) -> Path:
        return self.data_dir / self.calibration_file

    @property
    def effective_backend(self) -> BackendName:
        if self.backend:
            return self.backend
        return "opensearch" if self.opensearch_url else "sqlite"

    @property
    def library_dir(self) -> Path:
        return self.library_root or self.data_dir / "library"

    def thumbnail_path(self, asset_id: str) -> Path:
        return self.data_dir / "thumbnails" / f"{asset_id}.jpg"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / self.sqlite_file

    @property
    def field_weights(self) -> dict[str, int]:
        return {
            "title": self.title_weight,
            "keywords": self.keywords_weight,
            "file_name": self.file_name_weight,
            "description": self.description_weight,
        }

    def threshold(self, kind: str) -> float:
        return {
            "object": self.min_object_confidence,
            "action": self.min_action_confidence,
            "custom": self.min_custom_confidence,
        }[kind]


def read_calibration_file(path: Path) -> dict[str, tuple[float, float]]:
    """The fitted (center, scale) per model key in a calibration file; {} when there is none.
    The file is `{"tag_calibration": {key: [center, scale]}, "fits": {key: report}}`."""
    if not path.is_file():  # also where the data dir is not made yet, or not a folder
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"calibration file {path} cannot be read: {exc}") from None
    table = data.get("tag_calibration") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise ValueError(f"calibration file {path} has no tag_calibration table")
    return {str(k): (float(v[0]), float(v[1])) for k, v in table.items()}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
