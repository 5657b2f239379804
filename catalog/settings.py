"""The one settings object: every default of smarttags lives here.

Values come from (highest first) explicit keyword arguments, environment variables with the
prefix ``SMARTTAGS_``, an optional TOML file (``SMARTTAGS_CONFIG_FILE``, or ``smarttags.toml``
in the working directory), then the defaults below.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field, field_validator
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
    backend: BackendName | None = None  # None: OpenSearch when a URL is set, else SQLite
    sqlite_file: str = "smarttags.db"
    sqlite_cache_mb: int = 256
    sqlite_busy_timeout_s: float = 30.0
    opensearch_url: str | None = None
    opensearch_index: str = "smarttags-assets"
    opensearch_timeout_s: float = 10.0
    opensearch_max_retries: int = 5
    opensearch_backoff_s: float = 0.5
    opensearch_bulk_chunk: int = 500
    opensearch_verify_certs: bool = True

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

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8000

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

    @field_validator("opensearch_url")
    @classmethod
    def _blank_url_is_none(cls, value: str | None) -> str | None:
        return value or None

    @property
    def effective_backend(self) -> BackendName:
        if self.backend:
            return self.backend
        return "opensearch" if self.opensearch_url else "sqlite"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / self.sqlite_file

    def threshold(self, kind: str) -> float:
        return {
            "object": self.min_object_confidence,
            "action": self.min_action_confidence,
            "custom": self.min_custom_confidence,
        }[kind]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
