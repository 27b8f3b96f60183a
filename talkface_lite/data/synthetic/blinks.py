"""Natural blinks for the synthetic speaker, and their measurement from an AU45 trace.

Generation (:func:`sample_blinks`, :func:`au45_trace`):

* **rate**: each speaker blinks at a personal rate drawn from 12-22 per minute
  (adults at rest and in conversation blink 10-25 times a minute); blink
  onsets are spaced by the mean interval with +-35 % jitter, so a clip of any
  length has close to the drawn rate;
* **duration**: 200-400 ms from the start of the closing to full reopening;
* **shape**: asymmetric, as measured in eyelid kinematics: a fast closing
  (~30 % of the blink) and a slower reopening, each a smooth (cosine) ramp;
  90 % of blinks close fully (AU45 4.5-5), the rest are partial (2.5-4).

Gaze (:func:`sample_gaze`, :func:`gaze_trace`): episodes of looking down with
the eyes open, the case a blink detector must not count.

Measurement is the package's one blink detector,
:func:`talkface_lite.eye_state.detect_blinks` / :class:`~talkface_lite.eye_state.BlinkStatistics`.

Explained in notebooks/00_setup_and_tour.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import numpy as np

from ...landmarks import AU45_MAX

CLOSE_FRACTION = 0.3


@dataclass(frozen=True)
class Blink:
    """One blink: onset (s), total duration (s), peak AU45 (0-5)."""

    start: float
    duration: float
    peak: float


def sample_blinks(seconds: float, rng: np.random.Generator, rate_per_min: float = None) -> List[Blink]:
    """Blink events over a clip.

    Args:
        seconds: clip length.
        rng: random generator.
        rate_per_min: blinks per minute (drawn from 12-22 when None).

    Returns:
        Blinks sorted by onset, none overlapping and all ending before ``seconds``.
    """
    rate = float(rng.uniform(12, 22)) if rate_per_min is None else float(rate_per_min)
    if not 0 < rate < 120:
        raise ValueError(f"rate_per_min must be in (0, 120), got {rate}")
    mean = 60.0 / rate
    out: List[Blink] = []
    t = float(rng.uniform(0.2, 1.0)) * mean
    while True:
        dur = float(rng.uniform(0.2, 0.4))
        peak = float(rng.uniform(4.5, 5.0)) if rng.uniform() < 0.9 else float(rng.uniform(2.5, 4.0))
        if t + dur > seconds:
            break
        out.append(Blink(t, dur, peak))
        t += max(mean * float(rng.uniform(0.65, 1.35)), dur + 0.3)
    return out


@dataclass(frozen=True)
class Gaze:
    """One look down (or aside and down): onset (s), total duration (s), upper-lid lowering (0-1 of a closure),
    head pitch (radians, positive = chin down)."""

    start: float
    duration: float
    lid: float
    pitch: float


GAZE_RAMP = 0.15  # seconds to look down and to look back up


def sample_gaze(seconds: float, rng: np.random.Generator, every: Tuple[float, float] = (5.0, 10.0)) -> List[Gaze]:
    """Episodes of looking down for 0.5-2 s, one every 5-10 s: the upper lid follows the eye down (by 40-60 %
    of a closure), the head pitches down 3-7 degrees, and the eye stays open (true AU45 = 0).

    Why: on real footage this is what an eye-aspect-ratio blink detector most often mistakes for a long
    blink; the synthetic speaker has it so the detector's failure is in our own test data.
    """
    out: List[Gaze] = []
    t = float(rng.uniform(*every)) * 0.5
    while True:
        dur = float(rng.uniform(0.5, 2.0))
        if t + dur > seconds - 0.2:
            break
        out.append(Gaze(t, dur, float(rng.uniform(0.4, 0.6)), float(np.deg2rad(rng.uniform(3.0, 7.0)))))
        t += dur + float(rng.uniform(*every))
    return out


def gaze_trace(episodes: List[Gaze], times: np.ndarray) -> np.ndarray:
    """``(T, 2)`` lid lowering (0-1) and head pitch (radians) of the gaze episodes at ``times`` (smooth ramps)."""
    out = np.zeros((len(times), 2))
    for g in episodes:
        ramp = min(GAZE_RAMP, g.duration / 3)
        u = np.clip(np.minimum(times - g.start, g.start + g.duration - times) / ramp, 0.0, 1.0)  # 0 -> 1 -> 0
        level = 0.5 - 0.5 * np.cos(np.pi * u)
        out[:, 0] = np.maximum(out[:, 0], g.lid * level)
        out[:, 1] += g.pitch * level
    return out


def blink_profile(u: np.ndarray) -> np.ndarray:
    """Closure in [0, 1] at normalised blink time ``u`` in [0, 1] (fast close, slow reopen)."""
    u = np.asarray(u, dtype=np.float64)
    close = 0.5 - 0.5 * np.cos(np.pi * np.clip(u / CLOSE_FRACTION, 0, 1))
    reopen = 0.5 + 0.5 * np.cos(np.pi * np.clip((u - CLOSE_FRACTION) / (1 - CLOSE_FRACTION), 0, 1))
    out = np.where(u < CLOSE_FRACTION, close, reopen)
    return np.where((u < 0) | (u > 1), 0.0, out)


def au45_trace(blinks: List[Blink], times: np.ndarray) -> np.ndarray:
    """(T,) AU45 on OpenFace's 0-5 scale at the given times (seconds)."""
    times = np.asarray(times, dtype=np.float64)
    au = np.zeros_like(times)
    for b in blinks:
        au = np.maximum(au, b.peak * blink_profile((times - b.start) / b.duration))
    return np.clip(au, 0.0, AU45_MAX)
