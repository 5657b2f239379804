"""A term-index snapshot saved as .npy files, so that a process starting on a large library
maps it (numpy memory maps: no parsing, pages shared by every process on the machine) and
catches up from the change log, instead of building it again from the database.

It is derived data only: the store decides which saved snapshot is valid (catalog/
sqlite_index.py records the name of the last one in the database) and any folder here may be
deleted at any time.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from catalog.term_index import Csr, Folders, Segment, Snapshot

FORMAT = 2  # bump when the arrays or their meaning change (2: tag ids, shadow channels)
_SEGMENT_ARRAYS = (
    "meta_doc",
    "meta_fields",
    "tag_channel",
    "tag_doc",
    "tag_conf",
    "tag_weight",
    "tag_tag",
)
_DOC_ARRAYS = ("doc_segment", "media", "folder", "id_key", "created")
_INFO = "info.json"


def save(snap: Snapshot, directory: Path, quantum: int) -> str:
    """Write a one-segment snapshot under `directory`; returns the name of its folder."""
    if len(snap.segments) != 1:
        raise ValueError("only a one-segment snapshot is saved")
    (segment,) = snap.segments
    name = f"{snap.generation}-{snap.seq}-{uuid.uuid4().hex[:8]}"
    partial = directory / f".{name}.partial"
    partial.mkdir(parents=True)
    try:
        arrays = {a: getattr(segment, a) for a in _SEGMENT_ARRAYS}
        arrays.update(
            meta_terms=segment.meta.terms,
            meta_starts=segment.meta.starts,
            tag_terms=segment.tags.terms,
            tag_starts=segment.tags.starts,
            **{a: getattr(snap, a) for a in _DOC_ARRAYS},
        )
        for key, array in arrays.items():
            np.save(partial / f"{key}.npy", np.ascontiguousarray(array))
        info = {
            "format": FORMAT,
            "generation": snap.generation,
            "seq": snap.seq,
            "quantum": quantum,
            "live": snap.live,
            "docs": segment.docs,
            "folders": snap.folders.names[: snap.folder_count],
        }
        (partial / _INFO).write_text(json.dumps(info))
        os.replace(partial, directory / name)  # a reader sees all of it or none of it
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return name


def load(folder: Path, generation: str, quantum: int) -> Snapshot | None:
    """The snapshot saved in `folder`, memory-mapped; None if absent or not of this index."""
    try:
        info = json.loads((folder / _INFO).read_text())
    except (OSError, ValueError):
        return None
    if (info.get("format"), info.get("generation"), info.get("quantum")) != (
        FORMAT,
        generation,
        quantum,
    ):
        return None
    try:
        # plain arrays over the mapped files: numpy's memmap class would wrap every result
        arrays = {
            path.stem: np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
            for path in folder.glob("*.npy")
        }
        segment = Segment(
            meta=Csr(arrays["meta_terms"], arrays["meta_starts"]),
            tags=Csr(arrays["tag_terms"], arrays["tag_starts"]),
            docs=info["docs"],
            **{a: arrays[a] for a in _SEGMENT_ARRAYS},
        )
        folders = Folders()
        folders.ids_of(info["folders"])
        return Snapshot(
            generation=generation,
            seq=info["seq"],
            segments=(segment,),
            stale=(0,),
            folders=folders,
            folder_count=len(info["folders"]),
            live=info["live"],
            **{a: arrays[a] for a in _DOC_ARRAYS},
        )
    except (OSError, KeyError, ValueError):
        return None


def remove_others(directory: Path, keep: str) -> None:
    """Delete the saved snapshots but `keep` (a process still mapping one keeps its pages)."""
    for folder in directory.glob("*"):
        if folder.name != keep and folder.is_dir() and not folder.name.startswith("."):
            shutil.rmtree(folder, ignore_errors=True)
