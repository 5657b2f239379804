"""Folder settings inheritance: the effective value and where it comes from, per media type."""

from __future__ import annotations

import pytest

from catalog.asset import MediaType
from catalog.folders import FolderPolicy, FolderSetting, Toggle, ancestors

VID, IMG = MediaType.video, MediaType.image
SETTINGS = [
    FolderSetting(folder="brand", video=Toggle.disable),
    FolderSetting(folder="brand/launch", video=Toggle.enable, image=Toggle.disable),
    FolderSetting(folder="brand/launch/raw/deep", image=Toggle.enable),
    FolderSetting(folder="brand-2020", image=Toggle.disable),
]


@pytest.mark.parametrize(
    ("folder", "media", "enabled", "source"),
    [
        ("", VID, True, None),  # nothing set up the tree: the library default
        ("other/x", IMG, True, None),
        ("brand", VID, False, "brand"),
        ("brand", IMG, True, None),  # video and image are independent
        ("brand/a/b/c/d", VID, False, "brand"),  # deep paths inherit
        ("brand/launch", VID, True, "brand/launch"),  # a child overrides its parent
        ("brand/launch/raw", IMG, False, "brand/launch"),
        ("brand/launch/raw/deep/er", IMG, True, "brand/launch/raw/deep"),
        ("brand/launch/raw/deep/er", VID, True, "brand/launch"),
        ("brand-2020/x", VID, True, None),  # a sibling with the same prefix inherits nothing
        ("brand-2020/x", IMG, False, "brand-2020"),
    ],
)
def test_inheritance_matrix(folder, media, enabled, source):
    effective = FolderPolicy(SETTINGS).effective(folder, media)
    assert (effective.enabled, effective.source) == (enabled, source)


def test_changing_a_parent_changes_every_descendant_that_inherits():
    before = FolderPolicy(SETTINGS)
    changed = [s for s in SETTINGS if s.folder != "brand"]
    changed.append(FolderSetting(folder="brand", video=Toggle.enable))
    after = FolderPolicy(changed)
    assert not before.effective("brand/x/y", VID).enabled
    assert after.effective("brand/x/y", VID).enabled
    assert after.effective("brand/launch/raw", IMG).source == "brand/launch"  # own value kept


def test_moving_an_asset_between_folders_follows_the_new_folder():
    policy = FolderPolicy(SETTINGS)
    assert policy.effective("brand/launch/raw", IMG).enabled is False
    assert policy.effective("brand/launch/raw/deep", IMG).enabled is True


def test_library_default_off_and_root_setting():
    off = FolderPolicy([], default_enabled=False)
    assert off.effective("a/b", VID).enabled is False
    root = FolderPolicy([FolderSetting(folder="", image=Toggle.enable)], default_enabled=False)
    assert root.effective("a/b", IMG) == root.effective("", IMG)
    assert root.effective("a/b", IMG).source == "" and root.effective("a/b", VID).source is None
    assert "library root" in root.effective("a/b", IMG).describe()


def test_describe_shows_own_effective_and_source():
    shown = FolderPolicy(SETTINGS).describe("brand/launch/raw")
    assert shown["video"] == {
        "setting": "inherit",
        "effective": "enable",
        "inherited_from": "brand/launch",
    }
    assert ancestors("a/b/c") == ["a/b/c", "a/b", "a", ""]
