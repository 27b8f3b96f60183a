"""The 68-point facial landmark convention and the measurements built on it.

Index convention (iBUG 300-W / dlib / face_alignment, 0-based). "Right" and
"left" are the *subject's*: in a frontal image the subject's right eye
(:data:`RIGHT_EYE`, 36-41) is on the image's left.

========== ======= ===================================================
name       indices  what
========== ======= ===================================================
JAW        0-16    jaw/cheek contour on the visible silhouette, image-left to image-right, 8 = chin
BROWS      17-26   right brow 17-21 (outer -> inner), left brow 22-26 (inner -> outer)
NOSE       27-35   bridge 27-30 (top -> tip), nostril base 31-35 (image-left -> right)
RIGHT_EYE  36-41   outer corner 36, upper lid 37-38, inner corner 39, lower lid 40-41
LEFT_EYE   42-47   inner corner 42, upper lid 43-44, outer corner 45, lower lid 46-47
OUTER_LIPS 48-59   corner 48, upper lip 49-53 (51 = top centre), corner 54, lower lip 55-59 (57 = bottom centre)
INNER_LIPS 60-67   corner 60, upper 61-63, corner 64, lower 65-67
========== ======= ===================================================

Head frame of :func:`template_3d` (and of every ``landmarks.npy`` this package
writes): origin at the centre of the skull, **x towards the subject's left**
(image right in a frontal view), **y up**, **z out of the face** (towards a
frontal camera); units are decimetres (an adult face is about 1.9 dm from
brow to chin). A frontal OpenCV camera (x right, y down, z forward) looking at
the face therefore has rotation ``diag(1, -1, -1)`` in this frame.

Measurements:

* :func:`eye_aspect_ratio` (Soukupova & Cech 2016): ``(|p2-p6| + |p3-p5|) / (2 |p1-p4|)``
  per eye, about 0.25-0.35 open and below 0.1 closed.
* :func:`au45_from_ear` maps EAR to OpenFace's AU45 (blink) intensity on its
  0-5 scale, calibrated per speaker: 0 at the open-eye baseline (a robust upper
  percentile of the sequence unless given), 5 at a fully closed eye.
* :func:`lmd` is ER-NeRF's landmark distance: per frame, both landmark sets are
  mean-centred over the region, then the L2 distance per landmark is averaged
  over landmarks and frames (pixels for 2D input).

Explained in notebooks/00_setup_and_tour.ipynb and notebooks/06_blink_prediction.ipynb.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

N_LANDMARKS = 68
JAW = tuple(range(0, 17))
RIGHT_BROW = tuple(range(17, 22))
LEFT_BROW = tuple(range(22, 27))
BROWS = tuple(range(17, 27))
NOSE = tuple(range(27, 36))
RIGHT_EYE = tuple(range(36, 42))
LEFT_EYE = tuple(range(42, 48))
EYES = tuple(range(36, 48))
MOUTH = tuple(range(48, 68))
OUTER_LIPS = tuple(range(48, 60))
INNER_LIPS = tuple(range(60, 68))

#: region name -> indices, as accepted by :func:`lmd` and :func:`region_indices`
REGIONS = {
    "jaw": JAW,
    "brows": BROWS,
    "nose": NOSE,
    "right_eye": RIGHT_EYE,
    "left_eye": LEFT_EYE,
    "eyes": EYES,
    "mouth": MOUTH,
    "outer_lips": OUTER_LIPS,
    "inner_lips": INNER_LIPS,
    "face": tuple(range(N_LANDMARKS)),
}

#: AU45 intensity of a fully closed eye on OpenFace's scale
AU45_MAX = 5.0
#: EAR of a fully closed eye as a fraction of the open-eye baseline (lids touch, EAR ~ 0.05)
CLOSED_EAR_FRACTION = 0.15


def _check_landmarks(lm: np.ndarray, name: str = "landmarks", dims=(2, 3)) -> np.ndarray:
    lm = np.asarray(lm, dtype=np.float64)
    if lm.ndim < 2 or lm.shape[-2] != N_LANDMARKS or lm.shape[-1] not in dims:
        raise ValueError(
            f"{name} must have shape (..., 68, {'|'.join(map(str, dims))}), got {lm.shape}: pass the 68-point "
            "iBUG/dlib layout (see talkface_lite.landmarks)"
        )
    return lm


def region_indices(region: Union[str, Sequence[int]]) -> np.ndarray:
    """Indices of a named region (see :data:`REGIONS`) or an explicit index list."""
    if isinstance(region, str):
        key = region.lower()
        if key not in REGIONS:
            raise ValueError(f"unknown landmark region {region!r}: use one of {sorted(REGIONS)} or a list of indices")
        return np.asarray(REGIONS[key])
    idx = np.asarray(region, dtype=int).ravel()
    if idx.size == 0 or idx.min() < 0 or idx.max() >= N_LANDMARKS:
        raise ValueError(f"landmark indices must be non-empty and within 0..67, got {idx.tolist()}")
    return idx


def eye_aspect_ratio(lm2d: np.ndarray) -> np.ndarray:
    """Eye aspect ratio of both eyes.

    Args:
        lm2d: (..., 68, 2) image landmarks (3D input is accepted; only x, y are used).

    Returns:
        (..., 2) EAR of the subject's right eye (36-41) and left eye (42-47).

    Explained in notebooks/06_blink_prediction.ipynb.
    """
    lm = _check_landmarks(lm2d, "lm2d")[..., :2]
    out = []
    for start in (36, 42):
        p = [lm[..., start + k, :] for k in range(6)]
        vertical = np.linalg.norm(p[1] - p[5], axis=-1) + np.linalg.norm(p[2] - p[4], axis=-1)
        horizontal = 2.0 * np.linalg.norm(p[0] - p[3], axis=-1)
        out.append(vertical / np.maximum(horizontal, 1e-9))
    return np.stack(out, axis=-1)  # (..., 2)


def au45_from_ear(
    ear: np.ndarray, open_baseline: Optional[float] = None, closed_fraction: float = CLOSED_EAR_FRACTION
) -> np.ndarray:
    """AU45 (blink) intensity on OpenFace's 0-5 scale from the eye aspect ratio.

    ``AU45 = 5 * clip((baseline - ear) / (baseline - closed), 0, 1)`` with
    ``closed = closed_fraction * baseline``: 0 for an eye as open as the
    speaker's usual open eye, 5 for lids that touch.

    Args:
        ear: (T,) EAR, or (T, 2) per eye (averaged).
        open_baseline: the speaker's open-eye EAR. When None it is estimated
            robustly from the sequence as its 90th percentile (people have
            their eyes open > 90 % of the time; blinks only pull EAR down).
        closed_fraction: EAR of a closed eye as a fraction of the baseline.

    Returns:
        (T,) AU45 in [0, 5].

    Explained in notebooks/06_blink_prediction.ipynb.
    """
    ear = np.asarray(ear, dtype=np.float64)
    if ear.ndim == 2 and ear.shape[1] == 2:
        ear = ear.mean(axis=1)
    if ear.ndim != 1 or ear.size == 0:
        raise ValueError(f"ear must have shape (T,) or (T, 2) with T >= 1, got {ear.shape}")
    if not np.all(np.isfinite(ear)):
        raise ValueError("ear contains NaN/inf: interpolate frames without a detected face first")
    base = float(np.percentile(ear, 90)) if open_baseline is None else float(open_baseline)
    if base <= 0:
        raise ValueError(f"open-eye baseline EAR must be > 0, got {base}")
    closed = closed_fraction * base
    return AU45_MAX * np.clip((base - ear) / (base - closed), 0.0, 1.0)


def mouth_opening(lm: np.ndarray) -> np.ndarray:
    """Inner-lip opening: mean distance between the upper (61-63) and lower (67-65) inner lip.

    Args:
        lm: (..., 68, 2|3) landmarks (pixels or head units).

    Returns:
        (...) opening in the landmarks' units (0 for closed lips).
    """
    lm = _check_landmarks(lm)
    upper = lm[..., [61, 62, 63], :]
    lower = lm[..., [67, 66, 65], :]
    return np.linalg.norm(upper - lower, axis=-1).mean(axis=-1)


def center(lm: np.ndarray, region: Union[str, Sequence[int]] = "face") -> np.ndarray:
    """Subtract the per-frame mean of ``region`` from all landmarks.

    Args:
        lm: (..., 68, D) landmarks.

    Returns:
        (..., 68, D) centred landmarks.
    """
    lm = _check_landmarks(lm)
    idx = region_indices(region)
    return lm - lm[..., idx, :].mean(axis=-2, keepdims=True)


def procrustes_align(src: np.ndarray, dst: np.ndarray, scale: bool = True):
    """Similarity transform (Umeyama) that best maps ``src`` onto ``dst``.

    Args:
        src: (N, D) points.
        dst: (N, D) points.
        scale: allow a uniform scale (else rigid).

    Returns:
        ``(aligned, R, s, t)`` with ``aligned = s * src @ R.T + t`` of shape (N, D),
        ``R`` (D, D) a proper rotation, ``s`` a float, ``t`` (D,).
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[0] < src.shape[1]:
        raise ValueError(f"src and dst must both be (N, D) with N >= D, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(len(sig))
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rot = u @ np.diag(d) @ vt
    var_s = (a**2).sum() / len(src)
    s = float((sig * d).sum() / var_s) if scale and var_s > 0 else 1.0
    t = mu_d - s * rot @ mu_s
    return s * src @ rot.T + t, rot, s, t


def lmd(pred: np.ndarray, gt: np.ndarray, region: Union[str, Sequence[int]] = "mouth") -> float:
    """Landmark distance (ER-NeRF): mean L2 after per-frame mean-centring over the region.

    Args:
        pred: (T, 68, 2|3) or (68, 2|3) predicted landmarks.
        gt: same shape, ground truth.
        region: ``"mouth"`` (48-67, ER-NeRF's LMD), ``"face"``, any key of
            :data:`REGIONS`, or a list of indices.

    Returns:
        The mean distance in the landmarks' units.
    """
    pred = _check_landmarks(pred, "pred")
    gt = _check_landmarks(gt, "gt")
    if pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must have the same shape")
    idx = region_indices(region)
    p, g = pred[..., idx, :], gt[..., idx, :]
    p = p - p.mean(axis=-2, keepdims=True)
    g = g - g.mean(axis=-2, keepdims=True)
    return float(np.linalg.norm(p - g, axis=-1).mean())


def _arc(x0, x1, y0, y1, bulge, n):
    """n points from (x0, y0) to (x1, y1) bowed upwards by ``bulge``."""
    t = np.linspace(0.0, 1.0, n)
    return np.stack([x0 + (x1 - x0) * t, y0 + (y1 - y0) * t + bulge * np.sin(np.pi * t)], axis=1)


def _face_depth(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """z of a generic face surface in the head frame (a flattened ellipsoid front)."""
    return 0.92 * np.sqrt(np.clip(1.0 - (x / 0.80) ** 2 - (y / 1.25) ** 2, 0.04, None))


def template_3d() -> np.ndarray:
    """A generic 3D 68-landmark face in the head frame documented above (decimetres).

    Proportions of an average adult, in decimetres: eye centres 0.64 apart,
    inner eye corners 0.36, outer corners 0.92, mouth 0.50 wide, nose tip 0.27
    below the eye line, chin about 1.05 below it. The jaw points
    lie on the silhouette of a frontal view (where an annotator clicks), so
    their z is small at the sides. It is the PnP reference for real videos and
    the design reference of the synthetic head.

    Returns:
        (68, 3) float64.
    """
    pts = np.zeros((N_LANDMARKS, 3))
    # jaw: a U-shaped contour from the right ear (image left) through the chin
    psi = np.linspace(np.deg2rad(172), np.deg2rad(368), 17)
    jx = 0.74 * np.cos(psi) * (1.0 - 0.30 * np.clip(-np.sin(psi), 0, None) ** 2)
    jy = -0.10 + 0.93 * np.sin(psi)
    pts[JAW, 0], pts[JAW, 1] = jx, jy
    pts[JAW, 2] = 0.15 + 0.70 * np.clip(-np.sin(psi), 0, None) ** 3
    # brows: outer -> inner on the right, inner -> outer on the left
    right_brow = _arc(-0.56, -0.12, 0.24, 0.30, 0.06, 5)
    pts[RIGHT_BROW, :2] = right_brow
    pts[LEFT_BROW, :2] = right_brow[::-1] * [-1, 1]
    # nose bridge and base
    pts[27:31, 0] = 0.0
    pts[27:31, 1] = [0.10, -0.02, -0.13, -0.25]
    pts[31:36, 0] = [-0.16, -0.08, 0.0, 0.08, 0.16]
    pts[31:36, 1] = [-0.31, -0.34, -0.36, -0.34, -0.31]
    # eyes: corners at +-0.18 (inner) and +-0.46 (outer), open height 0.09
    eye = np.array([[-0.46, 0.02], [-0.37, 0.065], [-0.27, 0.065], [-0.18, 0.02], [-0.27, -0.02], [-0.37, -0.02]])
    pts[RIGHT_EYE, :2] = eye
    pts[LEFT_EYE, :2] = eye[[3, 2, 1, 0, 5, 4]] * [-1, 1]
    # lips
    outer = np.array(
        [
            [-0.25, -0.57],
            [-0.17, -0.52],
            [-0.07, -0.48],
            [0.0, -0.49],
            [0.07, -0.48],
            [0.17, -0.52],
            [0.25, -0.57],
            [0.18, -0.63],
            [0.09, -0.67],
            [0.0, -0.68],
            [-0.09, -0.67],
            [-0.18, -0.63],
        ]
    )
    inner = np.array(
        [
            [-0.21, -0.57],
            [-0.08, -0.565],
            [0.0, -0.565],
            [0.08, -0.565],
            [0.21, -0.57],
            [0.08, -0.575],
            [0.0, -0.575],
            [-0.08, -0.575],
        ]
    )
    pts[OUTER_LIPS, :2] = outer
    pts[INNER_LIPS, :2] = inner
    front = np.r_[list(BROWS), list(NOSE), list(EYES), list(MOUTH)]
    pts[front, 2] = _face_depth(pts[front, 0], pts[front, 1])
    pts[EYES, 2] -= 0.05  # eyes sit in their sockets
    pts[27:31, 2] += np.array([0.05, 0.10, 0.17, 0.26])  # the nose ridge rises to the tip
    pts[31:36, 2] += np.array([0.05, 0.10, 0.13, 0.10, 0.05])
    pts[MOUTH, 2] += 0.04  # lips protrude a little
    return pts


__all__ = [
    "N_LANDMARKS",
    "JAW",
    "BROWS",
    "RIGHT_BROW",
    "LEFT_BROW",
    "NOSE",
    "RIGHT_EYE",
    "LEFT_EYE",
    "EYES",
    "MOUTH",
    "OUTER_LIPS",
    "INNER_LIPS",
    "REGIONS",
    "AU45_MAX",
    "region_indices",
    "eye_aspect_ratio",
    "au45_from_ear",
    "mouth_opening",
    "center",
    "procrustes_align",
    "lmd",
    "template_3d",
]
