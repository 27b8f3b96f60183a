"""Import AU45 (blink intensity) from an OpenFace ``FeatureExtraction`` CSV, aligned to the video's frames.

OpenFace writes one row per frame with columns such as ``frame``,
``timestamp``, ``success`` and ``AU45_r`` (intensity 0–5; headers carry a
leading space, ``" AU45_r"``). ER-NeRF users hit two problems (REFERENCES.md,
pain #3): making the CSV at all, and a CSV whose frame count differs from
the prepared video's (OpenFace ran on the original 30 fps clip, or dropped
frames). We therefore align by time, not by row:

* with a ``timestamp`` column, AU45 is linearly interpolated at the video
  frame times ``i / 25``;
* without one, the rows are taken as evenly spaced over the clip and
  stretched to the video's frame count (reported);
* rows with ``success == 0`` (no face tracked) are ignored and their values
  interpolated from neighbours.

To make the CSV: ``FeatureExtraction -f video.mp4 -aus -out_dir out/`` (OpenFace 2).

Explained in notebooks/06_blink_prediction.ipynb.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import List, Tuple, Union

import numpy as np


def read_au45(path: Union[str, os.PathLike], n_frames: int, fps: float = 25.0) -> Tuple[np.ndarray, List[str]]:
    """AU45 per video frame from an OpenFace CSV.

    Args:
        path: the CSV.
        n_frames: frames of the prepared (25 fps) video.
        fps: their frame rate.

    Returns:
        ``au45 (n_frames,)`` float in [0, 5] and notes on how the rows were aligned.

    Raises:
        FileNotFoundError, ValueError: missing file, no ``AU45_r`` column, no usable row.

    Explained in notebooks/06_blink_prediction.ipynb.
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
        raise ValueError(f"{path} has no AU45_r column (columns: {', '.join(header[:8])}{', ...' if len(header) > 8 else ''}). "
                         "Run OpenFace with action units: FeatureExtraction -f video.mp4 -aus -out_dir out/")
    col = {name: header.index(name) for name in ("AU45_r", "timestamp", "success", "frame") if name in header}
    data = []
    for r in rows[1:]:
        if len(r) < len(header):
            continue
        try:
            data.append([float(r[col[k]]) if k in col else np.nan for k in ("AU45_r", "timestamp", "success")])
        except ValueError:
            continue
    if not data:
        raise ValueError(f"{path} has no numeric rows")
    arr = np.asarray(data)  # (R, 3): au45, timestamp, success
    ok = np.isfinite(arr[:, 0]) & (np.isnan(arr[:, 2]) | (arr[:, 2] > 0.5))
    notes = []
    if not ok.any():
        raise ValueError(f"{path}: OpenFace tracked no face in any row (success == 0 everywhere)")
    if (~ok).sum():
        notes.append(f"OpenFace CSV: {(~ok).sum()} rows without a tracked face interpolated")
    times = np.arange(n_frames) / fps
    if "timestamp" in col and np.all(np.isfinite(arr[:, 1])):
        src_t = arr[:, 1]
        src_fps = (len(src_t) - 1) / max(src_t[-1] - src_t[0], 1e-9) if len(src_t) > 1 else fps
        if len(arr) != n_frames:
            notes.append(f"OpenFace CSV has {len(arr)} rows (~{src_fps:.2f} fps) for {n_frames} video frames: "
                         "aligned by timestamp")
        end_gap = abs(src_t[-1] - times[-1]) if n_frames else 0.0
        if end_gap > 1.0:
            notes.append(f"OpenFace CSV ends {src_t[-1]:.2f} s but the video {times[-1]:.2f} s: was it made from this clip?")
    else:
        src_t = np.linspace(0.0, times[-1] if n_frames > 1 else 0.0, len(arr))
        if len(arr) != n_frames:
            notes.append(f"OpenFace CSV has {len(arr)} rows and no timestamp column for {n_frames} video frames: "
                         "rows stretched evenly over the clip")
    au = np.interp(times, src_t[ok], arr[ok, 0])
    return np.clip(au, 0.0, 5.0), notes


__all__ = ["read_au45"]
