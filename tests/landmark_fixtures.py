"""Small generated speakers for the landmark/blink/sync tests (no dataset, no audio synthesis).

A random smooth 50 Hz feature track drives the mouth: the jaw/lower lip drop
by ``0.05 * relu(3 * f0)`` where ``f0`` is the first feature dimension at the
frame's centre step, so audio really predicts landmarks and a model that uses
the audio must beat the mean shape.
"""

import numpy as np
from scipy.ndimage import gaussian_filter1d

from talkface_lite import landmarks as lmk
from talkface_lite.training.landmark_models import SpeakerArrays

LOWER = [5, 6, 7, 8, 9, 10, 11, 55, 56, 57, 58, 59, 65, 66, 67]


def feature_track(T, D=29, seed=0):
    """(2T + 16, D) smooth 50 Hz features."""
    r = np.random.default_rng(seed)
    return gaussian_filter1d(r.normal(size=(2 * T + 16, D)), 2.0, axis=0).astype(np.float32)


def toy_speaker(T=400, D=29, layout="deepspeech", seed=0, blinks=True):
    """A SpeakerArrays whose mouth follows the audio; ``layout``: deepspeech (T,16,D) | hubert (T,D) | hubert2 (T,2,D)."""
    f50 = feature_track(T, D, seed)
    centre = np.arange(T) * 2 + 8
    if layout == "deepspeech":
        feats = f50[centre[:, None] + np.arange(-8, 8)[None]]  # (T, 16, D)
    elif layout == "hubert2":
        feats = f50[centre[:, None] + np.arange(-1, 1)[None]]  # (T, 2, D)
    elif layout == "hubert":
        feats = f50[centre]  # (T, D)
    else:
        raise ValueError(layout)
    opening = np.clip(3.0 * f50[centre, 0], 0, None)
    lm = np.repeat(lmk.template_3d()[None].astype(np.float32), T, 0).copy()
    lm[:, LOWER, 1] -= 0.05 * opening[:, None]
    au = np.zeros(T, np.float32)
    if blinks:
        r = np.random.default_rng(seed + 100)
        t = int(r.integers(10, 40))
        prof = np.array([1.0, 3.0, 5.0, 4.0, 2.0, 0.5])
        while t + len(prof) < T:
            au[t : t + len(prof)] = prof
            lm[t : t + len(prof), 37:39, 1] -= 0.01 * prof[:, None]
            lm[t : t + len(prof), 43:45, 1] -= 0.01 * prof[:, None]
            t += int(r.integers(50, 110))
    return SpeakerArrays(feats, lm, au, fps=25.0, name=f"toy:{layout}:{seed}")
