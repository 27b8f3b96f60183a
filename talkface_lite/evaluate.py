"""Evaluate trained talking heads and write the analogues of the paper's Tables I-III (§IV).

**What a row is.** A run is driven *by its own held-out audio* (self-driven, as the paper's Table I):
the run's Dynamic Landmark Transformer turns the held-out tail's audio into landmarks, the frame's
ground-truth camera and AU45 are used (blinks are random at inference; scoring a random blink against
the true one would measure luck), and the held-out frames are rendered and compared with the ground truth:

* **PSNR** on the full frame and on the face box (the union rectangle of the face landmarks of each frame;
  the tables show both, the face box is the paper's region of interest);
* **LPIPS** on full frames: true LPIPS(alex, v0.1) when AlexNet weights are found, else ST-LPIPS(alex)
  (the column header names which);
* **LMD**: dlib's 68 landmarks detected on generated and ground-truth frames, mouth (48-67) and face,
  mean-centred per frame as ER-NeRF, in pixels at the evaluation resolution;
* **FID** with the 2015-12-05 FID Inception (clean-fid resizing), generated vs ground-truth frames of the
  held-out tail (few frames in QUICK: biased upwards, comparable only between rows of one table);
* **Sync**: SyncNet weights ship nowhere, so the Sync column is the *landmark-audio sync expert* of
  :mod:`talkface_lite.models.sync_expert`, trained on the speaker's ground-truth 2D landmarks (training
  split) and applied to the dlib landmarks of the generated video: the mean cosine of aligned
  5-frame mouth/audio clips minus the mean over audio shifted by 5-10 frames (higher: better
  synchronised; ground truth scores it too). It is labelled as ours and never put in a SyncNet column.

Tables are written as Markdown + CSV through :func:`talkface_lite.viz.save_table`; each row names its
data, resolution, mode, variant (with the paper's name) and the networks behind the numbers. The paper's
reported rows are printed under their own heading, never mixed into ours.

Explained in notebooks/08_evaluation_tables.ipynb.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from . import landmarks as lmk
from . import metrics as M

#: the paper's reported numbers (real video at 512x512, RTX 4090); printed beside ours, never mixed
PAPER_TABLES = {
    "I": {
        "caption": "Table I (Macron, self-driven)",
        "columns": ["PSNR", "LPIPS", "LMD", "FID", "Sync"],
        "rows": [
            ("GT", "N/A", 0, 0, 0, "N/A"),
            ("DFRF", 30.863, 0.101, 3.173, 15.076, 4.314),
            ("Geneface", 34.267, 0.027, 2.694, 10.102, 6.645),
            ("Er-Nerf", 35.100, 0.028, 2.815, 10.275, 6.532),
            ("Ours", 35.907, 0.025, 2.801, 10.170, 6.742),
        ],
    },
    "II": {
        "caption": "Table II (Obama)",
        "columns": ["PSNR", "LPIPS", "LMD", "FID", "Sync"],
        "rows": [
            ("GT", "N/A", 0, 0, 0, "N/A"),
            ("Er-Nerf", 37.353, 0.021, 2.492, 9.642, 6.734),
            ("Ours", 36.754, 0.016, 2.584, 9.431, 6.908),
        ],
    },
    "III": {
        "caption": "Table III (ablation)",
        "columns": ["PSNR", "LPIPS", "LMD", "SYNC"],
        "rows": [
            ("GT", "N/A", 0, 0, "N/A"),
            ("w/o D w/o E", 35.438, 0.0347, 2.721, 6.231),
            ("w/o E w D", 36.194, 0.0274, 2.731, 6.685),
            ("w E w D", 35.891, 0.0259, 2.729, 6.704),
            ("w Tri-Hash w E w D", 35.907, 0.0256, 2.691, 6.742),
        ],
    },
}


def sync_expert_for(dataset, kind: str, steps: int = 300, seed: int = 0):
    """A landmark-audio sync expert trained on a dataset's ground-truth 2D landmarks (training split)."""
    from .models.sync_expert import LandmarkSyncExpert
    from .training.landmark_models import SpeakerArrays, train_sync_expert

    train = dataset.split("train").numpy()
    lm2 = _lift(dataset.landmarks2d.numpy()[train])
    arrays = SpeakerArrays(
        dataset.features(kind).numpy()[train],
        lm2,
        dataset.au45.numpy()[train],
        fps=dataset.fps,
        name=f"{dataset.root.name}:train (2D)",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # before the expert exists: its initial weights are random too
        expert = LandmarkSyncExpert(arrays.dim, arrays.window)
        train_sync_expert(expert, arrays, steps=steps, progress=False)
    return expert.eval()


def _lift(lm2d: np.ndarray) -> np.ndarray:
    """``(T, 68, 2)`` pixels -> ``(T, 68, 3)`` with z = 0 (the sync expert normalises scale per clip)."""
    return np.concatenate([lm2d, np.zeros(lm2d.shape[:-1] + (1,), lm2d.dtype)], -1).astype(np.float32)


def _fill_gaps(lm: np.ndarray) -> np.ndarray:
    """Linearly interpolate frames whose detection failed (NaN rows) from their neighbours."""
    out = lm.copy()
    ok = ~np.isnan(out).any(axis=(1, 2))
    if ok.sum() < 2:
        return out
    t = np.arange(len(out))
    flat = out.reshape(len(out), -1)
    for j in range(flat.shape[1]):
        flat[~ok, j] = np.interp(t[~ok], t[ok], flat[ok, j])
    return flat.reshape(out.shape)


def sync_margin(expert, landmarks2d: np.ndarray, feats: torch.Tensor) -> float:
    """Aligned minus shifted (5-10 frames, both ways) mean cosine of the sync expert on 2D landmarks."""
    from .models.sync_expert import sync_score

    lm = torch.from_numpy(_lift(_fill_gaps(landmarks2d)))
    aligned = sync_score(expert, lm, feats, 0)
    shifted = [sync_score(expert, lm, feats, o) for o in (-10, -7, -5, 5, 7, 10)]
    return float(aligned - np.mean(shifted))


def self_driven(
    head,
    frames: Optional[Sequence[int]] = None,
    landmarks: str = "dlt",
    lpips_kind: str = "auto",
    fid: bool = True,
    expert=None,
    progress: bool = True,
    label: str = "",
) -> Dict[str, object]:
    """Evaluate one run on held-out frames of its dataset, driven by their own audio.

    Args:
        head: a trained :class:`~talkface_lite.training.TalkingHead`.
        frames: contiguous frame indices (default: the whole held-out tail).
        landmarks: ``"dlt"`` (predicted from the audio, the paper's inference) or ``"gt"``.
        lpips_kind: see :func:`talkface_lite.perceptual.load_lpips`.
        fid: compute FID (about 0.1 s per image on a CPU).
        expert: a sync expert from :func:`sync_expert_for` (trained here if None).
        label: the row's name (default: the variant's paper name).

    Returns:
        A table row: ``method, variant, data, resolution, mode, frames, psnr, psnr_face, lpips, lmd_mouth,
        lmd_face, detected, fid, sync`` plus ``networks`` (what produced the numbers).
    """
    from .models.field import PAPER_NAMES
    from .training import render_frames
    from .training.landmark_models import predict_landmarks

    ds = head.dataset
    frames = np.asarray(ds.split("val") if frames is None else frames)
    if len(frames) < 10:
        raise ValueError(f"evaluation needs at least 10 contiguous frames, got {len(frames)}")
    if landmarks == "dlt":
        lm = torch.from_numpy(
            predict_landmarks(head.landmark_model(), ds.features(head.config.audio_kind).numpy(), ds.au45.numpy())
        )
    elif landmarks == "gt":
        lm = ds.landmarks
    else:
        raise ValueError(f"landmarks must be 'dlt' or 'gt', got {landmarks!r}")
    gen = render_frames(head, frames, progress=progress, conditions=[{"landmarks": lm[int(i)]} for i in frames])
    gt = torch.stack([ds.image(int(i)) for i in frames])
    boxes = M.face_boxes(ds, frames)
    lp, lp_name = M.lpips_distance(gen, gt, kind=lpips_kind)
    to_u8 = lambda x: (x.numpy() * 255 + 0.5).astype(np.uint8)  # noqa: E731
    gen8, gt8 = to_u8(gen), to_u8(gt)
    det_gen, det_gt = M.detect_landmarks(gen8), M.detect_landmarks(gt8)
    both = ~(np.isnan(det_gen).any(axis=(1, 2)) | np.isnan(det_gt).any(axis=(1, 2)))
    row = {
        "method": label or PAPER_NAMES[head.config.field.variant],
        "variant": head.config.field.variant,
        "data": ds.root.name,
        "resolution": f"{ds.height}x{ds.width}",
        "mode": "QUICK" if head.config.total_steps < 10000 else "FULL",
        "frames": len(frames),
        "landmarks": landmarks,
        "psnr": float(np.mean([M.psnr(a, b) for a, b in zip(gen, gt)])),
        "psnr_face": float(np.mean([M.psnr(a, b, bx) for a, b, bx in zip(gen, gt, boxes)])),
        "lpips": float(np.mean(lp)),
        "detected": float(both.mean()),
    }
    row["lmd_mouth"] = lmk.lmd(det_gen[both], det_gt[both], "mouth") if both.any() else float("nan")
    row["lmd_face"] = lmk.lmd(det_gen[both], det_gt[both], "face") if both.any() else float("nan")
    fid_name = "not computed"
    row["fid"] = float("nan")
    if fid:
        row["fid"], fid_name = M.fid(gen, gt)
    expert = expert if expert is not None else sync_expert_for(ds, head.config.audio_kind)
    feats = ds.features(head.config.audio_kind)[torch.as_tensor(frames)]
    row["sync"] = sync_margin(expert, det_gen, feats) if both.mean() > 0.8 else float("nan")
    row["sync_gt"] = sync_margin(expert, det_gt, feats) if both.mean() > 0.8 else float("nan")
    row["networks"] = f"LPIPS: {lp_name}; FID: {fid_name}; LMD: dlib 68; Sync: landmark-audio sync expert (ours)"
    return row


COLUMNS = [
    "method",
    "psnr",
    "psnr_face",
    "lpips",
    "lmd_mouth",
    "lmd_face",
    "fid",
    "sync",
    "sync_gt",
    "detected",
    "data",
    "resolution",
    "mode",
    "frames",
    "landmarks",
    "networks",
]


def write_table(rows: List[dict], name: str, paper: Optional[str] = None, notebook: Optional[str] = None) -> str:
    """Write ``figures/<name>.{csv,md}`` (our rows) and return Markdown with the paper's rows under their own heading."""
    from . import viz

    viz.save_table(rows, name, notebook=notebook, columns=COLUMNS)
    text = "### Ours\n\n" + viz.markdown_table(rows, COLUMNS[:10], floatfmt="{:.4g}")
    if paper:
        p = PAPER_TABLES[paper]
        prow = [dict(zip(["method"] + p["columns"], r)) for r in p["rows"]]
        text += (
            f"\n\n### Reported in the paper — {p['caption']}; real video, 512x512, not comparable with "
            "the rows above\n\n" + viz.markdown_table(prow, ["method"] + p["columns"], floatfmt="{:g}")
        )
    return text


__all__ = ["COLUMNS", "PAPER_TABLES", "self_driven", "sync_expert_for", "sync_margin", "write_table"]
