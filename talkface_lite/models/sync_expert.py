"""A small landmark-audio sync expert, trained contrastively on the speaker's own data.

When SyncNet weights are absent (always, offline), evaluation still needs a
measure of audio-mouth synchrony. Following GeneFace's landmark sync expert,
two encoders embed

* a clip of mouth landmarks over ``n_frames = 5`` frames (the 20 mouth points,
  centred per frame on the mouth, minus the speaker's mean mouth, divided by
  the RMS of that motion), and
* the audio windows of the same 5 frames,

into unit vectors whose cosine similarity, read as a probability
``p = (cos + 1) / 2``, is trained with binary cross-entropy: 1 for aligned
pairs, 0 for pairs whose audio is shifted by at least ``min_shift`` frames
(or taken from elsewhere in the clip). The score of a landmark sequence is
its mean cosine over all 5-frame clips; :func:`offset_sweep` scores the
landmarks against audio shifted by ``-k..k`` frames: a synchronised sequence
peaks at offset 0 (the figure SyncNet's LSE-C/LSE-D summarise).

Results computed with it are labelled "landmark sync expert (trained on this
speaker)", never as SyncNet scores.

Explained in notebooks/08_evaluation_tables.ipynb.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .audio_encoder import AudioNet, FeatureNorm, as_windows

MOUTH = tuple(range(48, 68))
LABEL = "landmark sync expert (trained on this speaker)"


def mouth_clips(landmarks: torch.Tensor, n_frames: int = 5) -> torch.Tensor:
    """All ``n_frames`` clips of per-frame-centred mouth landmarks.

    Args:
        landmarks: ``(T, 68, 3)``.

    Returns:
        ``(T - n_frames + 1, n_frames, 20, 3)``.
    """
    m = landmarks[:, list(MOUTH)]  # (T, 20, 3)
    m = m - m.mean(1, keepdim=True)
    return m.unfold(0, n_frames, 1).permute(0, 3, 1, 2)  # (T - n + 1, n, 20, 3)


class LandmarkSyncExpert(nn.Module):
    """Two-tower contrastive model: mouth clip and audio clip -> unit embeddings.

    Args:
        dim_in: audio feature dimension ``D``.
        window: audio window ``W`` per frame.
        n_frames: clip length in frames.
        dim: embedding size.
    """

    def __init__(self, dim_in: int, window: int = 16, n_frames: int = 5, dim: int = 64):
        super().__init__()
        self.n_frames = n_frames
        self.norm = FeatureNorm(dim_in)
        self.register_buffer("mouth_mean", torch.zeros(len(MOUTH), 3))
        self.register_buffer("mouth_scale", torch.ones(()))
        self.audio_frame = AudioNet(dim_in, window, 32)
        self.audio = nn.Sequential(nn.Linear(32 * n_frames, 128), nn.GELU(), nn.Linear(128, dim))
        self.mouth = nn.Sequential(
            nn.Linear(len(MOUTH) * 3 * n_frames, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU(), nn.Linear(128, dim)
        )

    @torch.no_grad()
    def fit_scale(self, landmarks: torch.Tensor) -> "LandmarkSyncExpert":
        """Set the mean centred mouth and the RMS deviation from it from ``(T, 68, 3)`` training landmarks.

        Mouth clips enter the network as ``(clip - mouth_mean) / mouth_scale``:
        only the motion, at unit scale, whatever the landmark units.
        """
        m = mouth_clips(torch.as_tensor(landmarks).float(), 1)[:, 0]  # (T, 20, 3)
        self.mouth_mean.copy_(m.mean(0))
        self.mouth_scale.copy_((m - self.mouth_mean).pow(2).mean().sqrt().clamp_min(1e-6))
        return self

    def embed_mouth(self, clips: torch.Tensor) -> torch.Tensor:
        """``clips: (N, n_frames, 20, 3)`` -> ``(N, dim)`` unit vectors."""
        return F.normalize(self.mouth(((clips - self.mouth_mean) / self.mouth_scale).flatten(1)), dim=-1)

    def embed_audio(self, windows: torch.Tensor) -> torch.Tensor:
        """``windows: (N, n_frames, W, D)`` -> ``(N, dim)`` unit vectors."""
        codes = self.audio_frame(self.norm(windows))  # (N, n_frames, 32)
        return F.normalize(self.audio(codes.flatten(1)), dim=-1)

    def forward(self, clips: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        """Cosine similarity ``(N,)`` of mouth clips ``(N, n, 20, 3)`` and audio clips ``(N, n, W, D)``."""
        return (self.embed_mouth(clips) * self.embed_audio(windows)).sum(-1)


def sync_bce(cos: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """BCE on ``p = (cos + 1) / 2`` (GeneFace's cosine loss); ``cos, label: (N,)``."""
    p = ((cos + 1.0) / 2.0).clamp(1e-6, 1 - 1e-6)
    return F.binary_cross_entropy(p, label.float())


def sample_pairs(
    landmarks: torch.Tensor,
    feats: torch.Tensor,
    batch: int,
    n_frames: int = 5,
    min_shift: int = 3,
    generator: Optional[torch.Generator] = None,
):
    """Half aligned, half shifted (mouth clip, audio clip) pairs.

    Args:
        landmarks: ``(T, 68, 3)``.
        feats: ``(T, W, D)``.
        batch: pairs (even).
        min_shift: smallest shift of a negative, in frames.

    Returns:
        ``(clips (N, n, 20, 3), windows (N, n, W, D), labels (N,))``.
    """
    T = landmarks.shape[0]
    if T < n_frames + 2 * min_shift:
        raise ValueError(f"need at least {n_frames + 2 * min_shift} frames to sample sync pairs, got {T}")
    n = T - n_frames + 1
    clips = mouth_clips(landmarks, n_frames)  # (n, n_frames, 20, 3)
    wins = as_windows(feats).unfold(0, n_frames, 1).permute(0, 3, 1, 2)  # (n, n_frames, W, D)
    half = batch // 2
    i = torch.randint(0, n, (batch,), generator=generator)
    shift = torch.randint(min_shift, max(min_shift + 1, n - min_shift), (half,), generator=generator)
    j = i.clone()
    j[half:] = (i[half:] + shift[: batch - half]) % n  # negatives: shifted by >= min_shift (wrapping)
    bad = (j[half:] - i[half:]).abs() < min_shift
    j[half:][bad] = (i[half:][bad] + n // 2) % n
    labels = torch.cat([torch.ones(half), torch.zeros(batch - half)])
    return clips[i], wins[j], labels


@torch.no_grad()
def sync_score(expert: LandmarkSyncExpert, landmarks: torch.Tensor, feats: torch.Tensor, offset: int = 0) -> float:
    """Mean cosine between every 5-frame mouth clip and the audio clip ``offset`` frames later.

    Args:
        landmarks: ``(T, 68, 3)``; feats: ``(T, W, D)``.
        offset: audio shift in frames (positive: audio later).
    """
    expert.eval()
    clips = mouth_clips(torch.as_tensor(landmarks).float(), expert.n_frames)
    wins = as_windows(torch.as_tensor(feats)).unfold(0, expert.n_frames, 1).permute(0, 3, 1, 2)
    n = min(len(clips), len(wins))
    lo, hi = max(0, -offset), min(n, n - offset)
    if hi - lo < 1:
        raise ValueError(f"offset {offset} leaves no overlapping clips in a sequence of {landmarks.shape[0]} frames")
    return float(expert(clips[lo:hi], wins[lo + offset : hi + offset]).mean())


def offset_sweep(expert: LandmarkSyncExpert, landmarks, feats, max_offset: int = 10) -> Dict[str, np.ndarray]:
    """Scores for audio offsets ``-max_offset..max_offset``: ``{"offsets": (K,), "scores": (K,)}``."""
    offs = np.arange(-max_offset, max_offset + 1)
    return {"offsets": offs, "scores": np.array([sync_score(expert, landmarks, feats, int(o)) for o in offs])}


def sync_loss(expert: LandmarkSyncExpert, landmarks: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
    """Optional training loss for a landmark model: BCE pulling ``(pred landmarks, audio)`` to "in sync".

    Args:
        landmarks: ``(B, T, 68, 3)`` predicted (differentiable).
        feats: ``(B, T, W, D)``.

    Note:
        The expert's own parameters should be frozen (``requires_grad_(False)``)
        by the caller; gradients flow into ``landmarks`` only.
    """
    n = expert.n_frames
    lm = landmarks[..., list(MOUTH), :]
    lm = lm - lm.mean(-2, keepdim=True)
    clips = lm.unfold(1, n, 1).permute(0, 1, 4, 2, 3).flatten(0, 1)  # (B * (T-n+1), n, 20, 3)
    wins = as_windows(feats).unfold(1, n, 1).permute(0, 1, 4, 2, 3).flatten(0, 1)  # (B * (T-n+1), n, W, D)
    cos = expert(clips, wins)
    return sync_bce(cos, torch.ones_like(cos))


__all__ = [
    "LABEL",
    "LandmarkSyncExpert",
    "mouth_clips",
    "offset_sweep",
    "sample_pairs",
    "sync_bce",
    "sync_loss",
    "sync_score",
]
