"""Does a predicted mouth follow speech whose true mouth is unknown? Loudness, pauses and lag.

On a real recording driven through a landmark model (any voice, any text) there is no ground-truth
mouth, but three things must still hold, and each is measured here against the audio alone:

* **it opens with the voice**: the Pearson correlation of mouth opening with the loudness envelope
  (:func:`loudness_envelope`, the RMS of the 40 ms around each 25 fps frame); speech opens the
  mouth for vowels and closes it for /p b m/, so this is well below 1 even for a perfect mouth;
* **it closes in pauses**: frames of a pause (:func:`pause_frames`: at least 160 ms more than 35 dB
  below the clip's loud speech) should show the mouth near rest. ``pause_open_ratio`` is the mean
  opening above rest in pauses over that during speech: 0 is shut in every pause, 1 as open as
  when talking;
* **it is in time**: the lag of the peak of the cross-correlation between opening and loudness,
  in frames (positive: the mouth follows the audio); within one frame (40 ms) is in sync.

Explained in notebooks/05_landmark_transformer.ipynb.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from . import audio as A

PAUSE_DB = 35.0  # a pause is this far below the clip's loud speech (95th-percentile frame)
MIN_PAUSE_FRAMES = 4  # 160 ms: shorter quiet runs are stop closures inside words, not pauses


def loudness_envelope(audio: np.ndarray, n_frames: int, sr: int = A.SAMPLE_RATE) -> np.ndarray:
    """``(n_frames,)`` RMS of the 40 ms of audio centred on each 25 fps frame time ``i / 25`` s (zero outside)."""
    audio = np.asarray(audio, np.float64)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono (N,), got shape {audio.shape}")
    half = int(round(0.02 * sr))
    centres = np.round(np.arange(n_frames) * sr / A.FPS).astype(int)
    x = np.pad(audio, (half, half + max(0, centres[-1] + half - len(audio)) if n_frames else half))
    sq = np.concatenate([[0.0], np.cumsum(x**2)])
    return np.sqrt((sq[centres + 2 * half] - sq[centres]) / (2 * half))


def pause_frames(envelope: np.ndarray, pause_db: float = PAUSE_DB, min_frames: int = MIN_PAUSE_FRAMES) -> np.ndarray:
    """``(T,)`` bool: frames in runs of at least ``min_frames`` whose level is ``pause_db`` below loud speech."""
    env = np.asarray(envelope, np.float64)
    level = 20 * np.log10(env + 1e-9)
    quiet = level < np.percentile(level, 95) - pause_db
    out = np.zeros_like(quiet)
    start = None
    for i, q in enumerate(np.append(quiet, False)):
        if q and start is None:
            start = i
        elif not q and start is not None:
            if i - start >= min_frames:
                out[start:i] = True
            start = None
    return out


def lag_of_peak(opening: np.ndarray, envelope: np.ndarray, max_lag: int = 10) -> int:
    """Lag (frames) in ``[-max_lag, max_lag]`` maximising the correlation of ``opening[t]`` with
    ``envelope[t - lag]``: positive when the mouth moves after the sound."""
    o = (opening - opening.mean()) / (opening.std() + 1e-12)
    e = (envelope - envelope.mean()) / (envelope.std() + 1e-12)
    T = len(o)
    scores = []
    for lag in range(-max_lag, max_lag + 1):
        a, b = (o[lag:], e[: T - lag]) if lag >= 0 else (o[: T + lag], e[-lag:])
        scores.append(float(np.mean(a * b)))
    return int(np.argmax(scores)) - max_lag


def mouth_audio_agreement(
    opening: np.ndarray, audio: np.ndarray, rest: Optional[float] = None, sr: int = A.SAMPLE_RATE, max_lag: int = 10
) -> Dict[str, float]:
    """Loudness correlation, pause closure and lag of a predicted mouth against its driving audio.

    Args:
        opening: ``(T,)`` mouth opening per 25 fps frame (:func:`talkface_lite.landmarks.mouth_opening`).
        audio: ``(N,)`` the driving waveform.
        rest: the mouth's opening at rest (e.g. the training clip's mean opening in its pauses);
            default the 5th percentile of ``opening``.
        sr: sample rate of ``audio``.
        max_lag: cross-correlation search range in frames.

    Returns:
        ``loudness_corr`` (0 for a mouth that never moves), ``pause_open_ratio`` (NaN when the clip has
        no pause), ``lag_frames`` (None for a mouth that never moves), ``pause_frames`` (count).

    Raises:
        ValueError: ``opening`` not 1D, too short to search ``max_lag`` or not finite; audio whose length
            is not the mouth's (more than a frame apart), or silent audio.
    """
    from .checks import require_finite

    opening = np.asarray(opening, np.float64)
    if opening.ndim != 1 or len(opening) <= 2 * max_lag:
        raise ValueError(f"opening must be (T,) with T > {2 * max_lag}, got shape {opening.shape}")
    require_finite(opening, "mouth opening", "predict the landmarks again; NaN landmarks have no opening")
    covered = len(audio) / sr * A.FPS
    if abs(covered - len(opening)) > 1:
        raise ValueError(
            f"the audio covers {covered:.1f} frames at 25 fps but the mouth has {len(opening)}: pass the audio "
            "that drove these landmarks"
        )
    env = loudness_envelope(audio, len(opening), sr)
    if env.max() < 1e-6:
        raise ValueError("the audio is silent: there is no loudness for the mouth to follow")
    pauses = pause_frames(env)
    rest = float(np.percentile(opening, 5)) if rest is None else float(rest)
    above = opening - rest
    speech = ~pauses & (env > 0)
    ratio = float(above[pauses].mean() / above[speech].mean()) if pauses.any() and speech.any() else float("nan")
    moves = opening.std() > 1e-12
    return {
        "loudness_corr": float(np.corrcoef(opening, env)[0, 1]) if moves else 0.0,
        "pause_open_ratio": ratio,
        "lag_frames": lag_of_peak(opening, env, max_lag) if moves else None,
        "pause_frames": int(pauses.sum()),
    }


__all__ = ["lag_of_peak", "loudness_envelope", "mouth_audio_agreement", "pause_frames"]
