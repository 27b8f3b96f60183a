"""Import AU45 (blink intensity) from an OpenFace ``FeatureExtraction`` CSV, aligned to the video's frames.

OpenFace writes one row per frame with columns such as ``frame``,
``timestamp``, ``success`` and ``AU45_r`` (intensity 0–5; headers carry a
leading space, ``" AU45_r"``). ER-NeRF users hit two problems (its issue
tracker): making the CSV at all, and a CSV whose frame count differs from
the prepared video's (OpenFace ran on the original 30 fps clip, or dropped
frames). We therefore align by time, not by row:

* with a ``timestamp`` column, AU45 is linearly interpolated at the video
  frame times ``i / 25``;
* without one, the rows are taken as evenly spaced over the clip and
  stretched to the video's frame count (reported);
* rows with ``success == 0`` (no face tracked) are ignored and their values
  interpolated from neighbours;
* video frames after the last row or before the first (a CSV that ends early
  or starts late; a row stands for half a CSV frame period either side) and
  frames with no usable row within :data:`MAX_GAP` seconds (a long tracking
  failure) have no AU45: they are
  reported and filled from a ``fallback`` trace (``prepare`` passes its own
  eye-aspect-ratio estimate), never by repeating the last value, which would
  erase any blink there.

The CSV is read and checked by :func:`load_openface_csv` before any video is
decoded; :func:`align_au45` does the alignment once the frame count is known.

To make the CSV: ``FeatureExtraction -f video.mp4 -aus -out_dir out/`` (OpenFace 2).

Explained in README.md, "Preparing your own video".
"""

from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np

MAX_GAP = 0.1  # seconds: a frame farther than this from every usable CSV row has no AU45


@dataclasses.dataclass
class OpenFaceTable:
    """The usable content of an OpenFace CSV."""

    path: Path
    au45: np.ndarray  # (R,) AU45_r per row
    timestamp: Optional[np.ndarray]  # (R,) seconds, or None when the CSV has no timestamp column
    ok: np.ndarray  # (R,) bool: a face was tracked in the row
    skipped: int = 0  # rows that could not be read (too short, not numbers)


def load_openface_csv(path: Union[str, os.PathLike]) -> OpenFaceTable:
    """Read and check an OpenFace CSV (no video needed; ``prepare`` calls it before decoding).

    Raises:
        FileNotFoundError, ValueError: missing file, no ``AU45_r`` column, no usable row.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"OpenFace CSV {path} does not exist")
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise ValueError(f"{path} is empty")
    header = [h.strip() for h in rows[0]]
    if "AU45_r" not in header:
        raise ValueError(
            f"{path} has no AU45_r column (columns: {', '.join(header[:8])}{', ...' if len(header) > 8 else ''}). "
            "Run OpenFace with action units: FeatureExtraction -f video.mp4 -aus -out_dir out/"
        )
    col = {name: header.index(name) for name in ("AU45_r", "timestamp", "success", "frame") if name in header}
    data, skipped = [], 0
    for r in rows[1:]:
        if len(r) < len(header):
            skipped += bool("".join(r).strip())  # blank lines are not damage
            continue
        try:
            data.append([float(r[col[k]]) if k in col else np.nan for k in ("AU45_r", "timestamp", "success")])
        except ValueError:
            skipped += 1
    if not data:
        raise ValueError(f"{path} has no numeric rows")
    arr = np.asarray(data)  # (R, 3): au45, timestamp, success
    ok = np.isfinite(arr[:, 0]) & (np.isnan(arr[:, 2]) | (arr[:, 2] > 0.5))
    if not ok.any():
        raise ValueError(f"{path}: OpenFace tracked no face in any row (success == 0 everywhere)")
    stamps = arr[:, 1] if "timestamp" in col and np.all(np.isfinite(arr[:, 1])) else None
    return OpenFaceTable(path=path, au45=arr[:, 0], timestamp=stamps, ok=ok, skipped=skipped)


def _runs(mask: np.ndarray) -> List[Tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def align_au45(
    table: OpenFaceTable,
    n_frames: int,
    fps: float = 25.0,
    fallback: Optional[np.ndarray] = None,
    fallback_name: str = "eye aspect ratio",
) -> Tuple[np.ndarray, List[str], int]:
    """AU45 at the video's frame times from a loaded CSV.

    Args:
        table: :func:`load_openface_csv`'s result.
        n_frames: frames of the prepared (25 fps) video.
        fps: their frame rate.
        fallback: ``(n_frames,)`` AU45 to use where the CSV says nothing (default: the nearest CSV value,
            with a note that blinks there are lost).
        fallback_name: where ``fallback`` came from, for the note.

    Returns:
        ``au45 (n_frames,)`` in [0, 5], notes on the alignment, and the number of frames without CSV AU45.
    """
    ok = table.ok
    notes = []
    if table.skipped:
        notes.append(f"OpenFace CSV: {table.skipped} unreadable rows skipped (not numbers, or cut short)")
    if (~ok).sum():
        notes.append(f"OpenFace CSV: {(~ok).sum()} rows without a tracked face interpolated")
    times = np.arange(n_frames) / fps
    rows = len(table.au45)
    src_fps = fps
    if table.timestamp is not None:
        src_t = table.timestamp
        src_fps = (rows - 1) / max(src_t[-1] - src_t[0], 1e-9) if rows > 1 else fps
        if rows != n_frames:
            notes.append(
                f"OpenFace CSV has {rows} rows (~{src_fps:.2f} fps) for {n_frames} video frames: aligned by timestamp"
            )
        end_gap = abs(src_t[-1] - times[-1]) if n_frames else 0.0
        if end_gap > 1.0:
            notes.append(
                f"OpenFace CSV ends {src_t[-1]:.2f} s but the video {times[-1]:.2f} s: was it made from this clip?"
            )
    else:
        src_t = np.linspace(0.0, times[-1] if n_frames > 1 else 0.0, rows)
        if rows != n_frames:
            notes.append(
                f"OpenFace CSV has {rows} rows and no timestamp column for {n_frames} video frames: "
                "rows stretched evenly over the clip"
            )
    good_t = src_t[ok]
    au = np.interp(times, good_t, table.au45[ok])
    order = np.sort(good_t)
    idx = np.searchsorted(order, times)  # distance of each frame time to the nearest usable row
    nearest = np.minimum(
        np.abs(times - order[np.clip(idx - 1, 0, len(order) - 1)]),
        np.abs(order[np.clip(idx, 0, len(order) - 1)] - times),
    )  # (n_frames,)
    half = 0.5 / src_fps if table.timestamp is not None else 0.0  # a row stands for its frame period
    outside = (times < order[0] - half - 1e-6) | (
        times > order[-1] + half + 1e-6
    )  # before the first / after the last row
    missing = outside | (nearest > MAX_GAP + 1e-9)
    if missing.any():
        spans = ", ".join(f"{a / fps:.2f}-{b / fps:.2f} s" for a, b in _runs(missing)[:4])
        if fallback is not None:
            fallback = np.asarray(fallback, np.float64)
            if fallback.shape != (n_frames,):
                raise ValueError(f"fallback AU45 must be ({n_frames},), got {fallback.shape}")
            au[missing] = fallback[missing]
            how = f"filled with the package's own AU45 estimate ({fallback_name})"
        else:
            how = "filled with the nearest CSV value (a blink there is lost)"
        notes.append(f"OpenFace CSV has no AU45 for {int(missing.sum())} of {n_frames} frames ({spans}): {how}")
    return np.clip(au, 0.0, 5.0), notes, int(missing.sum())


def read_au45(
    path: Union[str, os.PathLike], n_frames: int, fps: float = 25.0, fallback: Optional[np.ndarray] = None
) -> Tuple[np.ndarray, List[str]]:
    """AU45 per video frame from an OpenFace CSV (:func:`load_openface_csv` then :func:`align_au45`).

    Args:
        path: the CSV.
        n_frames: frames of the prepared (25 fps) video.
        fps: their frame rate.
        fallback: ``(n_frames,)`` AU45 for frames the CSV does not cover (see :func:`align_au45`).

    Returns:
        ``au45 (n_frames,)`` float in [0, 5] and notes on how the rows were aligned.

    Raises:
        FileNotFoundError, ValueError: missing file, no ``AU45_r`` column, no usable row.
    """
    au, notes, _ = align_au45(load_openface_csv(path), n_frames, fps, fallback)
    return au, notes


__all__ = ["MAX_GAP", "OpenFaceTable", "align_au45", "load_openface_csv", "read_au45"]
