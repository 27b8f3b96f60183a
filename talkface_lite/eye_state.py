"""Eye state from video: AU45 (OpenFace's 0-5 blink intensity), blink events and blink statistics.

One module for the whole package: ``prepare`` (AU45 of a real clip), the blink model and generator
(:mod:`talkface_lite.models.blink`), the synthetic speaker's checks, the metrics and the notebooks all
detect blinks with :func:`detect_blinks` at :data:`BLINK_THRESHOLD` and describe them with
:class:`BlinkStatistics` (seconds).

AU45 from video (:func:`au45_from_video`), in three steps:

1. **Eye openness per frame.** ``"mediapipe"``: the lid gap over the eye width from MediaPipe's
   FaceLandmarker (478 points; the ``blink`` extra: ``mediapipe`` with the ``face_landmarker.task``
   bundle found by :func:`talkface_lite.weights.face_landmarker_path`). ``"ear"``: the eye aspect ratio of
   dlib's 68 landmarks (always available). On the synthetic speaker with looking-down episodes MediaPipe's
   lids follow the true AU45 at r = 0.89 against 0.38 for dlib's EAR (README, measured numbers), so
   ``"auto"`` takes MediaPipe when it is installed.
2. **Per-speaker baseline.** Openness is divided by the speaker's open-eye level (its 90th percentile:
   eyes are open most of the time), optionally after undoing head pitch (a face pitched by ``p`` shows
   its eyes ``cos p`` as tall), and mapped to 0-5 (:func:`talkface_lite.landmarks.au45_from_ear`).
3. **Temporal model.** A blink closes and reopens within :data:`BLINK_MAX_S`; looking down, squinting or a
   turned head keep the lids low for longer. A 3-frame median removes single-frame landmark jitter, then a
   grey-level opening with a window of :data:`BLINK_MAX_S` (the morphological white top-hat) keeps only
   closures shorter than that, so a look down reads AU45 = 0 while a blink during it still counts. The
   ramps into and out of a short look survive the opening; a closure that never gets past 60 % and lasts
   longer than :data:`PARTIAL_MAX_S` is such a ramp (a partial blink is brief), and is held below the
   threshold. On 36 clips of a new-user trial (synthetic speakers at 128-256 px with looks of 0.5-6.5 s,
   double blinks, covered faces; carphone) MediaPipe's AU45 found blinks at precision 0.975 and recall
   0.983; the 3 false events left are at the start or end of a look where MediaPipe's lids overshoot as
   the head pitches down (README, measured numbers).

Explained in notebooks/06_blink_prediction.ipynb.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
from typing import Optional, Tuple

import numpy as np

from . import landmarks as _lmk

#: AU45 (0-5) above which the eyes count as closing: the one blink threshold of the package.
BLINK_THRESHOLD = 1.0
#: Longest closure that is a blink (s). Blinks last about 0.1-0.4 s; longer low lids are gaze or squint.
BLINK_MAX_S = 0.4
#: A closure that stays below this AU45 (lids not past 60 % closed) and lasts longer than PARTIAL_MAX_S is a
#: lowered lid (the start of a look down, a squint), not a partial blink, which is brief.
PARTIAL_PEAK = 3.0
PARTIAL_MAX_S = 0.24
#: Openness of a closed eye as a fraction of the open baseline, per source (where AU45 reaches 5).
CLOSED_FRACTION = {"ear": _lmk.CLOSED_EAR_FRACTION, "mediapipe": 0.3}
SOURCES = ("auto", "ear", "mediapipe")
PROFILE_POINTS = 16
PROFILE_MARGIN = 2  # frames added on each side of a detected blink for its profile
GENEFACE_PROFILE = (0.1, 0.5, 0.7, 1.0, 0.7, 0.5, 0.1)


def blink_component(au45: np.ndarray, fps: float = 25.0, max_blink_s: float = BLINK_MAX_S) -> np.ndarray:
    """Keep the closures of ``au45 (T,)`` short enough to be blinks (step 3 of the module docstring).

    Returns:
        ``(T,)`` AU45 minus its grey opening over ``round(max_blink_s * fps)`` frames, after a 3-frame median;
        what is left of a closure that stays below :data:`PARTIAL_PEAK` for longer than :data:`PARTIAL_MAX_S`
        (the ramp of a look down) is held at the blink threshold, so it is not a blink event.
    """
    from scipy import ndimage

    a = np.asarray(au45, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"au45 must be a (T,) sequence, got shape {a.shape}")
    if len(a) < 3:
        return a.copy()
    a = ndimage.median_filter(a, size=3, mode="nearest")
    width = max(3, int(round(max_blink_s * fps)))
    out = np.clip(a - ndimage.grey_opening(a, size=width, mode="nearest"), 0.0, _lmk.AU45_MAX)
    for on, off, peak in detect_blinks(out):
        if out[peak] < PARTIAL_PEAK and off - on > PARTIAL_MAX_S * fps:
            out[on:off] = np.minimum(out[on:off], BLINK_THRESHOLD)  # a lowered lid, not a blink
    return out


def _pitch_factor(pitch: Optional[np.ndarray], n: int) -> np.ndarray:
    if pitch is None:
        return np.ones(n)
    p = np.asarray(pitch, dtype=np.float64)
    if p.shape != (n,):
        raise ValueError(f"pitch must be ({n},) radians, got shape {p.shape}")
    return 1.0 / np.maximum(np.cos(p - np.median(p)), 0.5)


def au45_from_openness(
    openness: np.ndarray, source: str, fps: float = 25.0, pitch: Optional[np.ndarray] = None
) -> np.ndarray:
    """AU45 ``(T,)`` from eye openness ``(T,)`` or ``(T, 2)`` (steps 2 and 3 of the module docstring).

    Args:
        openness: lid gap over eye width per frame (per eye or averaged); NaN rows are interpolated.
        source: ``"ear"`` or ``"mediapipe"`` (sets where AU45 reaches 5, :data:`CLOSED_FRACTION`).
        fps: frame rate.
        pitch: ``(T,)`` head pitch in radians, to undo its foreshortening (None: no correction).

    Raises:
        ValueError: no frame with a finite openness, or shapes that do not match.
    """
    o = np.asarray(openness, dtype=np.float64)
    o = o.mean(axis=1) if o.ndim == 2 else o
    ok = np.isfinite(o)
    if o.ndim != 1 or not ok.any():
        raise ValueError(
            f"openness must be (T,) or (T, 2) with a finite value somewhere, got shape {np.shape(openness)}"
        )
    if not ok.all():
        t = np.arange(len(o))
        o = np.interp(t, t[ok], o[ok])
    o = o * _pitch_factor(pitch, len(o))
    if source not in CLOSED_FRACTION:
        raise ValueError(f"source must be one of {', '.join(CLOSED_FRACTION)} here, got {source!r}")
    au = _lmk.au45_from_ear(o, closed_fraction=CLOSED_FRACTION[source])
    return blink_component(au, fps)


def au45_from_landmarks(lm2d: np.ndarray, fps: float = 25.0, pitch: Optional[np.ndarray] = None) -> np.ndarray:
    """AU45 ``(T,)`` from dlib's 68 landmarks ``(T, 68, 2)`` (the ``"ear"`` source)."""
    return au45_from_openness(_lmk.eye_aspect_ratio(lm2d), "ear", fps, pitch)


def mediapipe_available() -> bool:
    """True when MediaPipe's FaceLandmarker and its ``face_landmarker.task`` bundle are both found."""
    from .weights import face_landmarker_path

    try:
        import mediapipe  # noqa: F401
        from mediapipe.tasks.python import vision  # noqa: F401

        face_landmarker_path()
        return True
    except (ImportError, FileNotFoundError, OSError):
        return False


@contextlib.contextmanager
def _native_log_filtered():
    """Route the process's stderr (file descriptor 2) to a temporary file; pass on only error lines (E/F)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            log.seek(0)
            for line in log.read().decode("utf-8", "replace").splitlines():
                if line[:1] in ("E", "F") or "rror" in line:  # absl severities E(rror) and F(atal)
                    print(line, file=sys.stderr)


# MediaPipe's 478-point mesh: eye corners and the lid points above/below the pupil, per eye
_MP_EYES = (((33, 133), (159, 145)), ((362, 263), (386, 374)))


def mediapipe_openness(frames, fps: float = 25.0, progress: bool = False) -> np.ndarray:
    """Lid gap over eye width ``(T, 2)`` per frame from MediaPipe's FaceLandmarker (NaN: no face).

    Args:
        frames: ``(T, H, W, 3)`` uint8 RGB (a ``np.memmap`` is fine; frames are read one at a time).
        fps: frame rate (the landmarker tracks in video mode).
        progress: tqdm bar.

    Raises:
        ImportError, FileNotFoundError: the ``blink`` extra or its model bundle is missing (the message says
            what to install).
    """
    from .progress import tqdm
    from .weights import face_landmarker_path

    try:
        import mediapipe as mp
        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core.base_options import BaseOptions
    except ImportError as exc:
        raise ImportError(
            "the mediapipe AU45 source needs the blink extra: pip install 'talkface_lite[blink]' "
            "(or use au45_source='ear')"
        ) from exc
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(face_landmarker_path())),
        running_mode=vision.RunningMode.VIDEO,
        num_faces=1,
    )
    out = np.full((len(frames), 2), np.nan)
    with _native_log_filtered():  # its C++ start-up chatter (W/I lines) would reach every notebook and terminal
        landmarker = vision.FaceLandmarker.create_from_options(options)
        if len(frames):
            first = landmarker.detect_for_video(
                mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frames[0])), 0
            )
    with landmarker:
        for i in tqdm(range(len(frames)), desc="eye state", unit="frame", disable=not progress, leave=False):
            frame = np.ascontiguousarray(frames[i])
            h, w = frame.shape[:2]
            found = (
                first
                if i == 0
                else landmarker.detect_for_video(
                    mp.Image(image_format=mp.ImageFormat.SRGB, data=frame), int(round(i * 1000 / fps))
                )
            )
            if not found.face_landmarks:
                continue
            pts = np.array([(q.x * w, q.y * h) for q in found.face_landmarks[0]])  # (478, 2) pixels
            for k, ((a, b), (up, down)) in enumerate(_MP_EYES):
                out[i, k] = np.linalg.norm(pts[up] - pts[down]) / max(np.linalg.norm(pts[a] - pts[b]), 1e-9)
    return out


def au45_from_video(
    frames,
    lm2d: np.ndarray,
    fps: float = 25.0,
    source: str = "auto",
    pitch: Optional[np.ndarray] = None,
    progress: bool = False,
) -> Tuple[np.ndarray, str]:
    """AU45 ``(T,)`` of a clip and the source that produced it (the module docstring's three steps).

    Args:
        frames: ``(T, H, W, 3)`` uint8 RGB (read only by ``"mediapipe"``).
        lm2d: ``(T, 68, 2)`` dlib landmarks (used by ``"ear"``).
        fps: frame rate.
        source: ``"auto"`` (MediaPipe when installed, else the eye aspect ratio), ``"ear"`` or ``"mediapipe"``.
        pitch: ``(T,)`` head pitch (radians) to undo its foreshortening.
        progress: tqdm bar for the MediaPipe pass.

    Raises:
        ValueError: an unknown source. ImportError, FileNotFoundError: ``"mediapipe"`` asked for but missing.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown AU45 source {source!r}: use one of {', '.join(SOURCES)}")
    if source == "auto":
        source = "mediapipe" if mediapipe_available() else "ear"
    if source == "mediapipe":
        openness = mediapipe_openness(frames, fps, progress)
        if np.isfinite(openness).all(axis=1).mean() >= 0.5:
            return au45_from_openness(openness, "mediapipe", fps, pitch), "mediapipe"
        source = "ear"  # MediaPipe lost the face in most frames: dlib's landmarks are what `prepare` trusted
    return au45_from_landmarks(lm2d, fps, pitch), source


def detect_blinks(au45: np.ndarray, threshold: float = BLINK_THRESHOLD) -> np.ndarray:
    """Blinks as runs of frames with ``AU45 > threshold``.

    Args:
        au45: ``(T,)`` AU45 on the 0-5 scale.
        threshold: closing threshold.

    Returns:
        ``(n_blinks, 3)`` int array of ``[onset, offset, peak_frame]`` with
        ``offset`` exclusive. A run touching the clip's end is kept (it is
        still a blink onset) but its duration is a lower bound.
    """
    a = np.asarray(au45, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"au45 must be a (T,) sequence, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(
            f"au45 holds {int((~np.isfinite(a)).sum())} NaN/inf values of {len(a)}: fill the frames "
            "without a face first (an unknown eye state is neither open nor closed)"
        )
    above = np.concatenate([[False], a > threshold, [False]])
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    onsets, offsets = edges[0::2], edges[1::2]
    peaks = [on + int(np.argmax(a[on:off])) for on, off in zip(onsets, offsets)]
    return (
        np.stack([onsets, offsets, np.asarray(peaks, dtype=np.int64)], axis=1).astype(np.int64)
        if len(onsets)
        else np.zeros((0, 3), np.int64)
    )


def match_blinks(found: np.ndarray, true: np.ndarray, tolerance: int = 2) -> Tuple[float, float]:
    """Precision and recall of blink events ``(n, 3)`` (:func:`detect_blinks` rows) against true ones.

    A found event matches a true blink when the true peak frame lies inside the found run widened by
    ``tolerance`` frames on each side (the ±2-frame rule of the benchmarks); matching is one-to-one (each
    true blink, in time order, takes the first unmatched event that covers it), so one long event over two
    blinks, or two events on one blink, count once. No found events: precision 1.
    """
    found, true = np.asarray(found).reshape(-1, 3), np.asarray(true).reshape(-1, 3)
    used = np.zeros(len(found), bool)
    matched = 0
    for t in true[np.argsort(true[:, 2], kind="stable")]:
        for k, f in enumerate(found):
            if not used[k] and f[0] - tolerance <= t[2] < f[1] + tolerance:
                used[k], matched = True, matched + 1
                break
    precision = matched / len(found) if len(found) else 1.0
    recall = matched / len(true) if len(true) else 1.0
    return float(precision), float(recall)


def _resample(y: np.ndarray, n: int) -> np.ndarray:
    return np.interp(np.linspace(0, len(y) - 1, n), np.arange(len(y)), y)


@dataclasses.dataclass
class BlinkStatistics:
    """A speaker's blink statistics, measured from an AU45 sequence.

    Attributes:
        fps: frame rate.
        n_frames: length of the measured sequence.
        durations_s: ``(n,)`` blink durations in seconds (frames above threshold / fps).
        intervals_s: ``(n-1,)`` onset-to-onset intervals in seconds.
        peaks: ``(n,)`` peak AU45 of each blink.
        profile: ``(PROFILE_POINTS,)`` mean blink waveform (peak-normalised,
            including ``PROFILE_MARGIN`` frames either side).
        baseline: median AU45 outside blinks; ``noise``: its std.
        onsets: ``(n,)`` onset frames.
    """

    fps: float
    n_frames: int
    onsets: np.ndarray
    durations_s: np.ndarray
    intervals_s: np.ndarray
    peaks: np.ndarray
    profile: np.ndarray
    baseline: float
    noise: float

    @property
    def rate_per_min(self) -> float:
        """Blinks per minute over the whole sequence."""
        return 60.0 * len(self.durations_s) / max(self.n_frames / self.fps, 1e-9)

    def summary(self) -> str:
        """One line: count, rate and durations (ms)."""
        d = self.durations_s * 1000.0
        spread = f"{d.min():.0f}-{d.max():.0f} ms (mean {d.mean():.0f})" if len(d) else "n/a"
        return f"{len(d)} blinks, {self.rate_per_min:.1f}/min, durations {spread}"

    @classmethod
    def from_au45(cls, au45: np.ndarray, fps: float = 25.0, threshold: float = BLINK_THRESHOLD) -> "BlinkStatistics":
        """Measure statistics from ``au45 (T,)``."""
        a = np.asarray(au45, dtype=np.float64)
        ev = detect_blinks(a, threshold)
        durations = (ev[:, 1] - ev[:, 0]) / fps
        intervals = np.diff(ev[:, 0]) / fps
        peaks = a[ev[:, 2]] if len(ev) else np.zeros(0)
        profiles = []
        for on, off, pk in ev:
            lo, hi = on - PROFILE_MARGIN, off + PROFILE_MARGIN
            if lo < 0 or hi > len(a):
                continue
            profiles.append(_resample(a[lo:hi], PROFILE_POINTS) / max(a[pk], 1e-6))
        if profiles:
            profile = np.mean(profiles, axis=0)
        else:  # no complete blink: the GeneFace++ profile as a prior
            profile = _resample(np.asarray(GENEFACE_PROFILE), PROFILE_POINTS)
        inside = np.zeros(len(a), bool)
        for on, off, _ in ev:
            inside[max(on - PROFILE_MARGIN, 0) : off + PROFILE_MARGIN] = True
        rest = a[~inside] if (~inside).any() else a
        return cls(
            fps=fps,
            n_frames=len(a),
            onsets=ev[:, 0].copy(),
            durations_s=durations,
            intervals_s=intervals,
            peaks=peaks,
            profile=profile,
            baseline=float(np.median(rest)),
            noise=float(np.std(rest)),
        )


__all__ = [
    "BLINK_MAX_S",
    "BLINK_THRESHOLD",
    "BlinkStatistics",
    "CLOSED_FRACTION",
    "GENEFACE_PROFILE",
    "PROFILE_MARGIN",
    "PROFILE_POINTS",
    "SOURCES",
    "au45_from_landmarks",
    "au45_from_openness",
    "au45_from_video",
    "blink_component",
    "detect_blinks",
    "match_blinks",
    "mediapipe_available",
    "mediapipe_openness",
]
