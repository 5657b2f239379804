"""Which assets custom tags deal with: under a folder, smart tags enabled, content known."""

from __future__ import annotations

from dataclasses import dataclass, field

from catalog.asset import Asset, normalize_folder
from catalog.folders import FolderPolicy
from catalog.settings import Settings
from catalog.store import AssetStore


@dataclass
class Scope:
    folder: str
    assets: list[Asset] = field(default_factory=list)
    skipped: int = 0  # under the folder, but smart tags are disabled there or never indexed


def assets_in_scope(store: AssetStore, settings: Settings, folder: str | None = "") -> Scope:
    scope = Scope(normalize_folder(folder))
    policy = FolderPolicy(store.folder_settings(), settings.smart_tags_enabled_by_default)
    for asset in store.iter_assets(scope.folder):
        enabled = policy.effective(asset.folder, asset.media_type).enabled
        if enabled and asset.content_hash:
            scope.assets.append(asset)
        else:
            scope.skipped += 1
    return scope


def labelled_tags(asset: Asset) -> set[str]:
    """The tags a person gave the asset (manual or promoted, and not removed)."""
    return (set(asset.manual_tags) | set(asset.promoted_tags)) - set(asset.removed_tags)
