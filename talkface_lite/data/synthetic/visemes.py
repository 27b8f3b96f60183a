"""Visemes: from the phone sequence to jaw opening, lip spread and lip rounding per video frame.

Each phone has a visual target (:data:`VISEME_TARGETS`): jaw opening in
[0, 1], lip spread in [-1, 1] (corners out) and rounding in [0, 1] (corners
in, lips forward). Speech does not jump between targets: neighbouring phones
overlap (coarticulation). We use the dominance model of Cohen & Massaro
(1993): every segment ``i`` exerts a dominance

    D_i(t) = alpha_i * exp(-|t - c_i| / tau)

around its centre ``c_i`` and each articulator follows the dominance-weighted
mean of the targets, ``x(t) = sum_i D_i(t) x_i / sum_i D_i(t)``. Bilabials
(/p b m/) have a large dominance for the jaw/lips (the lips *must* close),
rounded vowels and /w/ for rounding, vowels for the jaw opening; pauses let
the mouth relax towards closed.

Because audio (:mod:`talkface_lite.data.synthetic.speech_synth`) and visemes come from
the same segments, open vowels are both loud and wide open: the audio
envelope predicts the mouth (measured in :func:`talkface_lite.data.synthetic.checks.mouth_audio_correlation`).

Explained in notebooks/00_setup_and_tour.ipynb.
"""

from __future__ import annotations

from typing import List

import numpy as np

from .speech_synth import PHONES, Segment

#: phone -> (jaw, spread, round)
VISEME_TARGETS = {
    "AA": (0.95, 0.1, 0.0),
    "AE": (0.8, 0.5, 0.0),
    "AH": (0.6, 0.1, 0.0),
    "AO": (0.7, -0.2, 0.6),
    "EH": (0.55, 0.5, 0.0),
    "IH": (0.3, 0.7, 0.0),
    "IY": (0.15, 1.0, 0.0),
    "UH": (0.35, -0.1, 0.6),
    "UW": (0.2, -0.3, 1.0),
    "ER": (0.4, 0.0, 0.35),
    "OW": (0.55, -0.2, 0.85),
    "EY": (0.45, 0.6, 0.0),
    "AY": (0.8, 0.3, 0.0),
    "P": (0.0, 0.0, 0.0),
    "B": (0.0, 0.0, 0.0),
    "M": (0.0, 0.0, 0.0),
    "F": (0.1, 0.2, 0.0),
    "V": (0.1, 0.2, 0.0),
    "T": (0.2, 0.3, 0.0),
    "D": (0.2, 0.3, 0.0),
    "N": (0.2, 0.3, 0.0),
    "L": (0.3, 0.2, 0.0),
    "S": (0.12, 0.6, 0.0),
    "Z": (0.12, 0.6, 0.0),
    "TH": (0.18, 0.2, 0.0),
    "SH": (0.18, -0.2, 0.6),
    "R": (0.28, -0.1, 0.45),
    "W": (0.12, -0.3, 1.0),
    "Y": (0.15, 0.8, 0.0),
    "K": (0.3, 0.2, 0.0),
    "G": (0.3, 0.2, 0.0),
    "HH": (0.4, 0.1, 0.0),
    "SIL": (0.02, 0.0, 0.0),
}
#: phone -> dominance (jaw, spread, round): how strongly a phone imposes its target
_BILABIAL = {"P", "B", "M"}
TAU = 0.045  # s, dominance decay


def _dominance(phone: str) -> np.ndarray:
    kind = PHONES[phone].kind
    if phone in _BILABIAL:
        return np.array([12.0, 2.0, 1.0])
    if phone in ("F", "V"):
        return np.array([3.0, 2.0, 1.0])
    if kind == "vowel":
        rounded = VISEME_TARGETS[phone][2] > 0.3
        return np.array([2.0, 1.5, 3.0 if rounded else 1.0])
    if phone in ("W", "SH", "R"):
        return np.array([1.0, 1.0, 3.0])
    if kind == "silence":
        return np.array([0.6, 0.6, 0.6])
    return np.array([0.8, 0.8, 0.5])


def viseme_tracks(segs: List[Segment], times: np.ndarray, tau: float = TAU) -> np.ndarray:
    """Articulator trajectories at the given times (Cohen-Massaro coarticulation).

    Args:
        segs: the utterance (contiguous segments).
        times: (T,) sample times in seconds (e.g. ``np.arange(n_frames) / fps``).
        tau: dominance decay in seconds (larger = more coarticulation).

    Returns:
        (T, 3) jaw opening [0, 1], lip spread [-1, 1], rounding [0, 1].
    """
    if not segs:
        raise ValueError("segs is empty: generate an utterance with speech_synth.random_utterance first")
    times = np.asarray(times, dtype=np.float64)
    centres = np.array([s.centre for s in segs])  # (S,)
    half = np.array([0.5 * s.duration for s in segs])
    targets = np.array([VISEME_TARGETS[s.phone] for s in segs])  # (S, 3)
    alpha = np.stack([_dominance(s.phone) for s in segs])  # (S, 3)
    out = np.empty((len(times), 3))
    # a segment holds its target over its own span and decays outside it
    for a in range(0, len(times), 2048):
        t = times[a : a + 2048, None]  # (t, 1)
        dist = np.clip(np.abs(t - centres[None]) - half[None], 0.0, None)  # (t, S)
        w = np.exp(-dist / tau)[..., None] * alpha[None]  # (t, S, 3)
        out[a : a + 2048] = (w * targets[None]).sum(1) / np.maximum(w.sum(1), 1e-12)
    return out


def phone_at(segs: List[Segment], times: np.ndarray) -> List[str]:
    """Name of the phone sounding at each time (for plots and alignment checks)."""
    starts = np.array([s.start for s in segs])
    idx = np.clip(np.searchsorted(starts, np.asarray(times), side="right") - 1, 0, len(segs) - 1)
    return [segs[i].phone for i in idx]


__all__ = ["VISEME_TARGETS", "viseme_tracks", "phone_at"]
