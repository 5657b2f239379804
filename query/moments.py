"""Moments: where in a video a semantic or by-example query matches best.

Each frame stands for a time range (half the gap to each neighbour, set at index time) and
has a similarity to the query on the hit's own scale (a text's calibrated confidence, an
example's cosine). The moment frames are those within `moment_share` of the video's score
range from its best frame, or within `moment_min_margin` of it: relative, because how far
apart a video's frames score depends on the model and the kind of query (a picture's cosines
to frames of other shots may all exceed 0.9), yet a video of one look stays one moment
instead of its best few frames by noise. Each run of consecutive moment frames is one
moment, from the start of its first frame to the end of its last, scored by its best frame.
Best first, at most `max_moments`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from catalog.settings import Settings
from catalog.vectors import FrameScores

_DECIMALS = 3  # milliseconds and thousandths: what a timeline or a cosine needs


def moments(frames: FrameScores | None, settings: Settings) -> list[dict[str, Any]]:
    if frames is None or not len(frames.scores):
        return []
    scores = np.asarray(frames.scores, np.float64)
    best = scores.max()
    margin = max(settings.moment_share * (best - scores.min()), settings.moment_min_margin)
    chosen = scores >= best - margin
    # run boundaries: where `chosen` switches on or off
    edges = np.flatnonzero(np.diff(np.concatenate(([0], chosen.astype(np.int8), [0]))))
    found = []
    for first, stop in zip(edges[::2], edges[1::2], strict=True):
        found.append(
            {
                "start_s": round(float(frames.starts[first]), _DECIMALS),
                "end_s": round(float(frames.ends[stop - 1]), _DECIMALS),
                "score": round(float(scores[first:stop].max()), _DECIMALS),
            }
        )
    found.sort(key=lambda m: (-m["score"], m["start_s"]))
    return found[: settings.max_moments]
