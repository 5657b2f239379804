"""Per-folder smart-tag settings, inherited down the folder tree.

Each folder may say, separately for videos and images, `enable`, `disable` or `inherit`
(the default). An asset's effective value is the first explicit value met walking from its
folder up to the library root; when none is set the library-wide default applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from catalog.asset import MediaType, normalize_folder, utc_now


class Toggle(StrEnum):
    inherit = "inherit"
    enable = "enable"
    disable = "disable"


class FolderSetting(BaseModel):
    """What one folder says; a folder whose values are all `inherit` is not stored."""

    model_config = ConfigDict(extra="forbid")

    folder: str  # '' is the library root
    video: Toggle = Toggle.inherit
    image: Toggle = Toggle.inherit
    updated_at: datetime = Field(default_factory=utc_now)
    updated_by: str = ""

    @field_validator("folder")
    @classmethod
    def _normal(cls, value: str) -> str:
        return normalize_folder(value)

    def value(self, media_type: MediaType) -> Toggle:
        return self.video if media_type is MediaType.video else self.image

    @property
    def is_default(self) -> bool:
        return self.video is Toggle.inherit and self.image is Toggle.inherit


@dataclass(frozen=True)
class Effective:
    enabled: bool
    source: str | None  # the folder the value comes from; None: the library-wide default

    def describe(self) -> str:
        state = "enable" if self.enabled else "disable"
        if self.source is None:
            return f"{state} (library default)"
        return f"{state} (set on {self.source or 'the library root'!r})"


def ancestors(folder: str) -> list[str]:
    """The folder itself, its parents, then the root ''."""
    folder = normalize_folder(folder)
    chain = []
    while folder:
        chain.append(folder)
        folder = folder.rpartition("/")[0]
    chain.append("")
    return chain


class FolderPolicy:
    """Resolves effective settings from the stored folder settings (one snapshot)."""

    def __init__(self, settings: list[FolderSetting], default_enabled: bool = True) -> None:
        self._by_folder = {s.folder: s for s in settings}
        self._default = default_enabled

    def get(self, folder: str) -> FolderSetting:
        folder = normalize_folder(folder)
        return self._by_folder.get(folder) or FolderSetting(folder=folder)

    def effective(self, folder: str, media_type: MediaType) -> Effective:
        for candidate in ancestors(folder):
            setting = self._by_folder.get(candidate)
            if setting is not None and setting.value(media_type) is not Toggle.inherit:
                return Effective(setting.value(media_type) is Toggle.enable, candidate)
        return Effective(self._default, None)

    def describe(self, folder: str) -> dict:
        """What `folder show` and the API print: own values, effective values and sources."""
        own = self.get(folder)
        result: dict = {"folder": own.folder}
        for media in MediaType:
            eff = self.effective(own.folder, media)
            result[media.value] = {
                "setting": own.value(media).value,
                "effective": "enable" if eff.enabled else "disable",
                "inherited_from": eff.source,
            }
        return result
