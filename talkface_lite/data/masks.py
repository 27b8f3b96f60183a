"""Region masks, rectangles and a background plate, all derived from 68 2D landmarks.

No face-parsing network is available offline (ER-NeRF uses BiSeNet), so the
regions are polygons built from the landmarks themselves:

* ``face``: the jaw line (0–16) closed over the brows (17–26), the brows lifted
  by a forehead margin of 0.5 x (brow-to-nose-tip distance).
* ``mouth``: the outer lip contour (48–59), grown by 15 % of the mouth width.
* ``eyes``: each eye contour (36–41, 42–47), grown by 60 % of the eye width
  (the lids and the skin they fold).
* ``head``: the face polygon scaled 1.25x about its centre (hair, ears), plus a
  neck/torso trapezoid from the jaw to the bottom of the image; everything
  outside it is ``background``.

A frame's masks are stored as one ``uint8`` image of bit flags
(:data:`MASK_BITS`), so ``masks/000123.png & MASK_BITS["mouth"]`` is the mouth.

Explained in notebooks/07_two_stage_training.ipynb.
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

JAW = slice(0, 17)
BROWS = slice(17, 27)
NOSE_TIP = 30
RIGHT_EYE = slice(36, 42)
LEFT_EYE = slice(42, 48)
OUTER_LIPS = slice(48, 60)
MOUTH = slice(48, 68)

#: bit of each region in a stored mask image; background = not head
MASK_BITS = {"face": 1, "mouth": 2, "eyes": 4, "head": 8}
REGIONS = ("face", "mouth", "eyes", "head", "background")


def _check_lm(lm2d: np.ndarray) -> np.ndarray:
    lm2d = np.asarray(lm2d, dtype=np.float64)
    if lm2d.shape[-2:] != (68, 2):
        raise ValueError(f"landmarks must be (..., 68, 2) pixel coordinates, got shape {lm2d.shape}")
    return lm2d


def _grow(poly: np.ndarray, factor: float) -> np.ndarray:
    """Scale a polygon ``(K, 2)`` about its centroid by ``1 + factor``."""
    c = poly.mean(axis=0, keepdims=True)
    return c + (poly - c) * (1.0 + factor)


def region_polygons(lm2d: np.ndarray, height: int) -> Dict[str, list]:
    """Polygons (lists of ``(K, 2)`` arrays, pixels) of every region of one frame.

    Args:
        lm2d: ``(68, 2)`` landmarks of one frame, pixels.
        height: image height (the torso trapezoid reaches the bottom row).
    """
    lm = _check_lm(lm2d)
    brows = lm[BROWS][::-1].copy()  # right-to-left so the polygon closes along the jaw
    lift = 0.5 * np.linalg.norm(lm[BROWS].mean(axis=0) - lm[NOSE_TIP])
    brows[:, 1] -= lift
    face = np.concatenate([lm[JAW], brows])  # (27, 2)
    mouth = _grow(lm[OUTER_LIPS], 0.15)
    eyes = [_grow(lm[RIGHT_EYE], 0.6), _grow(lm[LEFT_EYE], 0.6)]
    head = _grow(face, 0.25)
    jaw_l, jaw_r, chin = lm[4], lm[12], lm[8]
    width = jaw_r[0] - jaw_l[0]
    torso = np.array(
        [
            [jaw_l[0], jaw_l[1]],
            [jaw_r[0], jaw_r[1]],
            [chin[0] + 1.5 * width, height + 1.0],
            [chin[0] - 1.5 * width, height + 1.0],
        ]
    )
    return {"face": [face], "mouth": [mouth], "eyes": eyes, "head": [head, torso]}


def frame_mask(lm2d: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bit-flag mask ``(height, width)`` uint8 of one frame (see :data:`MASK_BITS`).

    Args:
        lm2d: ``(68, 2)`` landmarks, pixels.
    """
    from PIL import Image, ImageDraw

    out = np.zeros((height, width), np.uint8)
    for name, polys in region_polygons(lm2d, height).items():
        img = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(img)
        for poly in polys:
            draw.polygon([tuple(p) for p in poly.tolist()], fill=1)
        out |= np.asarray(img, np.uint8) * np.uint8(MASK_BITS[name])
    return out


def decode(mask: np.ndarray, region: str) -> np.ndarray:
    """Boolean region ``(..., H, W)`` from a bit-flag mask ``(..., H, W)``."""
    if region == "background":
        return (np.asarray(mask) & MASK_BITS["head"]) == 0
    if region not in MASK_BITS:
        raise ValueError(f"unknown region {region!r}: use one of {REGIONS}")
    return (np.asarray(mask) & MASK_BITS[region]) != 0


def region_rect(
    lm2d: np.ndarray, region: str, image_size: Tuple[int, int], min_size: int = 0, pad: float = 0.1
) -> Tuple[int, int, int, int]:
    """Axis-aligned rectangle ``(x0, y0, x1, y1)`` (x1, y1 exclusive) around a region.

    Args:
        lm2d: ``(68, 2)`` landmarks, pixels.
        region: ``"face" | "mouth" | "eyes"``.
        image_size: ``(height, width)``; the rectangle is clipped to it.
        min_size: grow each side to at least this many pixels (ER-NeRF pads
            the lip rectangle to 32 px for LPIPS patches).
        pad: extra margin as a fraction of the region's size.
    """
    lm = _check_lm(lm2d)
    height, width = image_size
    if region == "face":
        pts = np.concatenate(region_polygons(lm, height)["face"])
    elif region == "mouth":
        pts = lm[OUTER_LIPS]
    elif region == "eyes":
        pts = lm[36:48]
    else:
        raise ValueError(f"no rectangle for region {region!r}: use 'face', 'mouth' or 'eyes'")
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    size = hi - lo
    lo, hi = lo - pad * size, hi + pad * size
    grow = np.maximum(min_size - (hi - lo), 0) / 2.0
    lo, hi = lo - grow, hi + grow
    x0, y0 = int(np.floor(max(lo[0], 0))), int(np.floor(max(lo[1], 0)))
    x1, y1 = int(np.ceil(min(hi[0], width))), int(np.ceil(min(hi[1], height)))
    # keep the minimum size when clipping pushed a side against the border
    if x1 - x0 < min(min_size, width):
        x0, x1 = (0, min_size) if x0 == 0 else (width - min_size, width)
    if y1 - y0 < min(min_size, height):
        y0, y1 = (0, min_size) if y0 == 0 else (height - min_size, height)
    return x0, y0, x1, y1


def background_plate(frames, foreground: np.ndarray, max_frames: int = 100) -> np.ndarray:
    """Static background ``(H, W, 3)`` uint8: per-pixel median over frames where the pixel is not foreground.

    Pixels covered in every sampled frame are filled from the nearest pixel
    that was seen (a nearest-neighbour inpainting).

    Args:
        frames: ``(T, H, W, 3)`` uint8 (array or memmap).
        foreground: ``(T, H, W)`` bool, True where the speaker is.
        max_frames: frames used (evenly spaced), bounding time and memory.
    """
    from scipy import ndimage

    t = len(frames)
    if t == 0:
        raise ValueError("background_plate needs at least one frame")
    idx = np.unique(np.linspace(0, t - 1, min(t, max_frames)).round().astype(int))
    stack = np.stack([np.asarray(frames[i]) for i in idx]).astype(np.float32)  # (S, H, W, 3)
    fg = np.stack([np.asarray(foreground[i], bool) for i in idx])  # (S, H, W)
    stack[fg] = np.nan
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            plate = np.nanmedian(stack, axis=0)  # (H, W, 3), NaN where never seen
    seen = ~np.isnan(plate[..., 0])
    if not seen.any():
        plate = np.median(np.stack([np.asarray(frames[i]) for i in idx]), axis=0)
    elif not seen.all():
        _, (iy, ix) = ndimage.distance_transform_edt(~seen, return_indices=True)
        plate = plate[iy, ix]
    return np.clip(np.round(plate), 0, 255).astype(np.uint8)


__all__ = ["MASK_BITS", "REGIONS", "background_plate", "decode", "frame_mask", "region_polygons", "region_rect"]
