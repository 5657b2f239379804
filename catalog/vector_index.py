"""The embedded store's vector index: every asset vector in memory (numpy), derived from the
SQLite table `asset_vectors` and kept in step with it through the change log, as the term
index is (catalog/sqlite_index.py).

Search is exact: one matrix-vector product over the asset vectors of the query's model. At
100,000 assets of 512 dimensions that is 51 million multiply-adds, a few milliseconds, and
exact search needs no tuning, gives the same hits as a brute-force reference and counts every
asset above a floor; the README has the figures.

A snapshot is immutable. Per model it holds blocks of rows (rowids, vectors, vocabulary
medians and spreads) and `where`, by rowid, the block holding the live row. Writes become a
new small block; the newest blocks are merged when they grow comparable in size to the one
before (the term index's merge policy), so their number stays logarithmic and a search
multiplies few, large matrices.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from catalog.term_index import MergePolicy

NO_BLOCK = -1
VECTOR_DTYPE = np.float32
VectorRow = tuple[int, str, bytes, float, float]  # rowid, model, vector blob, median, spread


@dataclass(frozen=True)
class VectorBlock:
    rowids: np.ndarray  # int64
    vectors: np.ndarray  # n x D float32
    medians: np.ndarray  # float32
    spreads: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.rowids)

    @property
    def nbytes(self) -> int:
        arrays = (self.rowids, self.vectors, self.medians, self.spreads)
        return sum(a.nbytes for a in arrays)


@dataclass(frozen=True)
class Scored:
    """Cosines of the live rows of one model with a query vector."""

    rowids: np.ndarray
    cosines: np.ndarray
    medians: np.ndarray
    spreads: np.ndarray


@dataclass(frozen=True)
class ModelVectors:
    """The vectors of one model."""

    dim: int
    blocks: tuple[VectorBlock, ...]
    stale: tuple[int, ...]  # per block: rows superseded since it was made
    where: np.ndarray  # int16 by rowid: the block holding the live row, or NO_BLOCK
    live: int

    def score(self, query: np.ndarray) -> Scored:
        """Cosines of every live row with `query` (a unit D vector)."""
        query = np.ascontiguousarray(query, VECTOR_DTYPE)
        parts = []
        for number, block in enumerate(self.blocks):
            cosines = block.vectors @ query
            rowids, medians, spreads = block.rowids, block.medians, block.spreads
            if self.stale[number]:
                keep = self.where[rowids] == number
                rowids, cosines = rowids[keep], cosines[keep]
                medians, spreads = medians[keep], spreads[keep]
            parts.append((rowids, cosines, medians, spreads))
        if not parts:
            empty = np.empty(0, VECTOR_DTYPE)
            return Scored(np.empty(0, np.int64), empty, empty, empty)
        if len(parts) == 1:
            return Scored(*parts[0])
        return Scored(*(np.concatenate(column) for column in zip(*parts, strict=True)))

    def vector_of(self, rowid: int) -> np.ndarray | None:
        if rowid >= len(self.where) or self.where[rowid] == NO_BLOCK:
            return None
        block = self.blocks[self.where[rowid]]
        return block.vectors[int(np.flatnonzero(block.rowids == rowid)[0])]

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self.blocks) + self.where.nbytes


@dataclass(frozen=True)
class VectorSnapshot:
    generation: str
    seq: int  # the change-log position it reflects
    models: dict[str, ModelVectors] = field(default_factory=dict)

    def count(self, model_id: str) -> int:
        found = self.models.get(model_id)
        return found.live if found else 0

    @property
    def nbytes(self) -> int:
        return sum(m.nbytes for m in self.models.values())


@dataclass
class _Rows:
    """Rows of one model, gathered column by column."""

    rowids: list[int] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)
    medians: list[float] = field(default_factory=list)
    spreads: list[float] = field(default_factory=list)

    def block(self) -> VectorBlock:
        vectors = np.frombuffer(b"".join(self.blobs), VECTOR_DTYPE)
        return VectorBlock(
            rowids=np.array(self.rowids, np.int64),
            vectors=vectors.reshape(len(self.rowids), -1),
            medians=np.array(self.medians, VECTOR_DTYPE),
            spreads=np.array(self.spreads, VECTOR_DTYPE),
        )


def _by_model(rows: Iterable[VectorRow]) -> dict[str, _Rows]:
    grouped: dict[str, _Rows] = {}
    for rowid, model, blob, median, spread in rows:
        found = grouped.setdefault(model, _Rows())
        found.rowids.append(rowid)
        found.blobs.append(blob)
        found.medians.append(median)
        found.spreads.append(spread)
    return grouped


def _dim_of(block: VectorBlock) -> int:
    return int(block.vectors.shape[1]) if block.vectors.ndim == 2 else 0


def _where(size: int, block: VectorBlock, number: int) -> np.ndarray:
    where = np.full(size, NO_BLOCK, np.int16)
    where[block.rowids] = number
    return where


def build_vectors(generation: str, seq: int, rows: Iterable[VectorRow]) -> VectorSnapshot:
    """A snapshot of every row, one block per model."""
    models = {}
    for model, gathered in _by_model(rows).items():
        block = gathered.block()
        size = int(block.rowids.max(initial=-1)) + 1
        where = _where(size, block, 0)
        models[model] = ModelVectors(_dim_of(block), (block,), (0,), where, len(block))
    return VectorSnapshot(generation, seq, models)


def _grown(where: np.ndarray, size: int) -> np.ndarray:
    """A copy of `where` at least `size` long (capacity doubles: appends stay cheap)."""
    if len(where) >= size:
        return where.copy()
    out = np.full(max(size, 2 * len(where), 1024), NO_BLOCK, np.int16)
    out[: len(where)] = where
    return out


def _merged(older: VectorBlock, newer: VectorBlock, keep_old: np.ndarray, keep_new: np.ndarray):
    return VectorBlock(
        *(
            np.concatenate((a[keep_old], b[keep_new]))
            for a, b in (
                (older.rowids, newer.rowids),
                (older.vectors, newer.vectors),
                (older.medians, newer.medians),
                (older.spreads, newer.spreads),
            )
        )
    )


def _apply_model(
    current: ModelVectors | None,
    written: VectorBlock | None,
    touched: np.ndarray,
    policy: MergePolicy,
) -> ModelVectors | None:
    """One model's vectors after `touched` rowids changed, `written` holding their new rows
    of this model (None: none)."""
    if current is None:
        if written is None:
            return None
        dim = _dim_of(written)
        current = ModelVectors(dim, (), (), np.full(0, NO_BLOCK, np.int16), 0)
    top = int(touched.max(initial=-1)) + 1
    where = _grown(current.where, top)
    before = where[touched]
    stale = list(current.stale)
    for number, count in enumerate(np.bincount(before[before >= 0], minlength=len(stale))):
        stale[number] += int(count)
    live = current.live - int(np.count_nonzero(before >= 0))
    where[touched] = NO_BLOCK
    blocks = list(current.blocks)
    if written is not None and len(written):
        if _dim_of(written) != current.dim:
            raise ValueError(f"vectors of one model with dimensions {current.dim} and "
                             f"{_dim_of(written)}")
        blocks.append(written)
        stale.append(0)
        where[written.rowids] = len(blocks) - 1
        live += len(written)
    while len(blocks) >= 2 and (
        len(blocks[-1]) * policy.factor >= len(blocks[-2]) or len(blocks) > policy.max_segments
    ):
        newer, older = len(blocks) - 1, len(blocks) - 2
        merged = _merged(
            blocks[older],
            blocks[newer],
            where[blocks[older].rowids] == older,
            where[blocks[newer].rowids] == newer,
        )
        blocks[older:] = [merged]
        stale[older:] = [0]
        where[merged.rowids] = older
    if not live:
        return None
    return ModelVectors(current.dim, tuple(blocks), tuple(stale), where, live)


def apply_vector_changes(
    snap: VectorSnapshot,
    rows: list[VectorRow],
    changed: np.ndarray,
    seq: int,
    policy: MergePolicy,
) -> VectorSnapshot:
    """The snapshot after the `changed` rowids were written: `rows` are their vector rows now
    (a changed rowid without one has no vectors any more)."""
    grouped = {model: found.block() for model, found in _by_model(rows).items()}
    touched = np.asarray(changed, np.int64)
    models = {}
    for model in {*snap.models, *grouped}:
        updated = _apply_model(snap.models.get(model), grouped.get(model), touched, policy)
        if updated is not None:
            models[model] = updated
    return VectorSnapshot(snap.generation, seq, models)
