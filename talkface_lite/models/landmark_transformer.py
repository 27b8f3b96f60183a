"""Dynamic Landmark Transformer: audio VAE latents + eye state -> 68 3D landmarks per frame.

Paper §III-B, Eq. 6-7: audio features are smoothed, encoded by a VAE, and a
transformer maps the latent sequence, together with the speaker's
blink-encoded eye state ``E``, to landmarks ``P_hat = DLT(VAE(A), E)``, trained
with a positional loss ``L_pos`` between predicted and true landmark
positions. The paper gives no sizes; our choices:

* **Output.** Landmarks in the head frame as offsets from the speaker's mean
  shape: ``P_hat = mean_shape + scale * head(h)``, with ``mean_shape (68, 3)``
  and the scalar ``scale`` (RMS offset) fitted from the training clip
  (:meth:`DynamicLandmarkTransformer.fit_shape`) and stored as buffers. The
  output head starts at zero, so an untrained model predicts the mean shape.
* **Attention.** Pre-norm transformer blocks whose self-attention is limited
  to a band of ``radius`` frames either side (8 = 0.32 s at 25 fps: enough
  for coarticulation) with a learned per-head bias for each relative offset.
  Being relative, the model runs on sequences of any length with the same
  result as on the training crops, and needs no absolute positions.
* **Eye state.** ``eye: (B, T, eye_dim)`` (default one channel: the
  normalised AU45 of :func:`talkface_lite.models.blink.eye_condition`) is
  embedded and added to every frame's token, so eye landmarks close when the
  speaker (or the blink generator at inference) blinks.
* **Losses** (:func:`landmark_losses`), on offsets divided by ``scale`` so the
  weights do not depend on the landmark units:

  ``L = 1.0 * L_pos + 0.5 * L_vel + 1e-3 * L_KL + 0.1 * L_rec``

  with ``L_pos = mean_t,i ||p_hat_i(t) - p_i(t)||^2`` (Eq. 7, squared L2
  averaged over frames ``t`` and landmarks ``i``), ``L_vel`` the same on
  frame-to-frame differences (temporal smoothness without over-smoothing),
  ``L_KL`` and ``L_rec`` the audio VAE's terms. GeneFace uses velocity 3.0 /
  KL 0.4 on its own units; with our unit-free offsets a KL weight that large
  collapses the per-frame latents, so we keep it small. The model is trained
  per speaker, jointly with the VAE (one optimiser over both).

Explained in notebooks/05_landmark_transformer.ipynb.
"""

from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .audio_vae import AudioVAE, vae_losses

#: Loss weights of :func:`landmark_losses` (see the module docstring).
DEFAULT_WEIGHTS = {"pos": 1.0, "vel": 0.5, "kl": 1e-3, "recon": 0.1}


class BandSelfAttention(nn.Module):
    """Multi-head self-attention over a band of ``radius`` frames with relative-offset biases.

    ``out = softmax(Q K^T / sqrt(d_head) + bias[j - i] + mask) V`` per head,
    where ``mask`` is ``-inf`` for ``|j - i| > radius``.

    Args:
        d_model: token size.
        n_heads: heads (``d_model`` must be divisible by it).
        radius: frames visible on each side.
    """

    def __init__(self, d_model: int, n_heads: int = 4, radius: int = 8, dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.n_heads, self.radius, self.dropout = n_heads, radius, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.rel_bias = nn.Parameter(torch.zeros(n_heads, 2 * radius + 1))

    def attn_bias(self, T: int, device=None) -> torch.Tensor:
        """Additive attention bias ``(n_heads, T, T)``: learned relative bias inside the band, ``-inf`` outside."""
        rel = torch.arange(T, device=device)[None, :] - torch.arange(T, device=device)[:, None]  # (T, T): j - i
        inside = rel.abs() <= self.radius
        bias = self.rel_bias[:, (rel.clamp(-self.radius, self.radius) + self.radius)]  # (n_heads, T, T)
        return bias.masked_fill(~inside, float("-inf"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (B, T, d_model)`` -> ``(B, T, d_model)``."""
        B, T, C = x.shape
        q, k, v = (
            self.qkv(x).reshape(B, T, 3, self.n_heads, C // self.n_heads).permute(2, 0, 3, 1, 4)
        )  # 3 x (B, h, T, dh)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=self.attn_bias(T, x.device)[None], dropout_p=self.dropout if self.training else 0.0
        )  # (B, h, T, dh)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class TransformerBlock(nn.Module):
    """Pre-norm block: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, d_model: int, n_heads: int = 4, radius: int = 8, dropout: float = 0.1):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = BandSelfAttention(d_model, n_heads, radius)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (B, T, d_model)`` -> same shape."""
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.drop(self.mlp(self.norm2(x)))


class ShapeHead(nn.Module):
    """Mean shape and offset scale of one speaker's landmarks (buffers), shared by all landmark models."""

    def __init__(self, n_landmarks: int = 68):
        super().__init__()
        self.n_landmarks = n_landmarks
        self.register_buffer("mean_shape", torch.zeros(n_landmarks, 3))
        self.register_buffer("scale", torch.ones(()))

    @torch.no_grad()
    def fit(self, landmarks: torch.Tensor) -> "ShapeHead":
        """Fit from training landmarks ``(T, 68, 3)``: per-point mean and the RMS offset from it."""
        lm = torch.as_tensor(landmarks, dtype=torch.float32)
        if lm.ndim != 3 or lm.shape[1:] != (self.n_landmarks, 3):
            raise ValueError(f"landmarks must be (T, {self.n_landmarks}, 3), got {tuple(lm.shape)}")
        self.mean_shape.copy_(lm.mean(0))
        self.scale.copy_((lm - self.mean_shape).pow(2).sum(-1).mean().sqrt().clamp_min(1e-6))
        return self

    def to_landmarks(self, offsets: torch.Tensor) -> torch.Tensor:
        """Unit-free offsets ``(..., 68 * 3)`` -> landmarks ``(..., 68, 3)``."""
        return self.mean_shape + self.scale * offsets.reshape(*offsets.shape[:-1], self.n_landmarks, 3)

    def to_offsets(self, landmarks: torch.Tensor) -> torch.Tensor:
        """Landmarks ``(..., 68, 3)`` -> unit-free offsets ``(..., 68, 3)``."""
        return (landmarks - self.mean_shape) / self.scale


class DynamicLandmarkTransformer(nn.Module):
    """Audio VAE + band-attention transformer -> 68x3 landmarks per frame (Eq. 6).

    Args:
        dim_in: audio feature dimension ``D`` (29 DeepSpeech, 80 log-mel, 1024 HuBERT).
        window: feature window ``W`` per frame (16, 2 or 1).
        eye_dim: size of the eye-state condition.
        d_model: transformer width.
        n_layers: transformer blocks.
        n_heads: attention heads.
        radius: attention band (frames each side).
        latent_dim: VAE latent size.
        dropout: dropout in the blocks (0: fitted per speaker on a minute of audio, the model
            under-fits rather than over-fits; with dropout 0.1 its training loss stayed about twice as
            high, notebook 05's recipe table).
        n_landmarks: points per frame.

    Explained in notebooks/05_landmark_transformer.ipynb.
    """

    def __init__(
        self,
        dim_in: int,
        window: int = 16,
        eye_dim: int = 1,
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
        radius: int = 8,
        latent_dim: int = 16,
        dropout: float = 0.0,
        n_landmarks: int = 68,
    ):
        super().__init__()
        self.eye_dim = eye_dim
        self.vae = AudioVAE(dim_in, window, latent_dim=latent_dim)
        self.inp = nn.Linear(latent_dim, d_model)
        self.eye = nn.Linear(eye_dim, d_model)
        self.blocks = nn.ModuleList(TransformerBlock(d_model, n_heads, radius, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_landmarks * 3)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.shape = ShapeHead(n_landmarks)

    def fit_shape(self, landmarks: torch.Tensor) -> "DynamicLandmarkTransformer":
        """Fit the mean shape and offset scale from training landmarks ``(T, 68, 3)``."""
        self.shape.fit(landmarks)
        return self

    def forward(self, feats: torch.Tensor, eye: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Predict landmarks.

        Args:
            feats: ``(B, T, W, D)`` audio feature windows (``(T, W, D)`` is read as ``B = 1``).
            eye: ``(B, T, eye_dim)`` eye state, or ``None`` for open eyes (zeros).

        Returns:
            dict with ``landmarks (B, T, 68, 3)``, ``offsets (B, T, 68, 3)``
            (unit-free) and the VAE outputs ``z, mu, logvar, recon, recon_target``.
        """
        out = self.vae(feats)
        z = out["z"]  # (B, T, latent_dim)
        B, T, _ = z.shape
        if eye is None:
            eye = z.new_zeros(B, T, self.eye_dim)
        eye = torch.as_tensor(eye, dtype=z.dtype, device=z.device)
        if eye.ndim == 2 and eye.shape == (B, T) and self.eye_dim == 1:
            eye = eye.unsqueeze(-1)  # (B, T, 1)
        elif eye.ndim == 2 and B == 1:
            eye = eye.unsqueeze(0)  # (1, T, eye_dim)
        if eye.shape != (B, T, self.eye_dim):
            raise ValueError(f"eye state must be (B, T, eye_dim) = ({B}, {T}, {self.eye_dim}), got {tuple(eye.shape)}")
        h = self.inp(z) + self.eye(eye)  # (B, T, d_model)
        for block in self.blocks:
            h = block(h)
        offsets = self.head(self.norm(h))  # (B, T, 68 * 3)
        out["offsets"] = offsets.reshape(B, T, -1, 3)
        out["landmarks"] = self.shape.to_landmarks(offsets)  # (B, T, 68, 3)
        return out


def positional_loss(pred: torch.Tensor, target: torch.Tensor, scale: torch.Tensor = 1.0) -> torch.Tensor:
    """Eq. 7: mean over frames and landmarks of the squared L2 distance, in units of ``scale``.

    Args:
        pred: ``(..., T, N, 3)`` predicted landmarks.
        target: ``(..., T, N, 3)`` true landmarks.
        scale: scalar divisor (the speaker's RMS offset) making the loss unit-free.
    """
    return ((pred - target) / scale).pow(2).sum(-1).mean()


def velocity_loss(pred: torch.Tensor, target: torch.Tensor, scale: torch.Tensor = 1.0) -> torch.Tensor:
    """:func:`positional_loss` on frame-to-frame differences along the time axis ``-3``."""
    return positional_loss(pred.diff(dim=-3), target.diff(dim=-3), scale)


def landmark_losses(
    out: Dict[str, torch.Tensor], target: torch.Tensor, scale: torch.Tensor, weights: Optional[Dict[str, float]] = None
) -> Dict[str, torch.Tensor]:
    """Weighted training loss of a landmark model output.

    Args:
        out: model output with ``landmarks (B, T, 68, 3)`` (and, for the transformer,
            the VAE terms ``mu, logvar, recon, recon_target``).
        target: ``(B, T, 68, 3)`` true landmarks.
        scale: the speaker's offset scale (``model.shape.scale``).
        weights: overrides of :data:`DEFAULT_WEIGHTS`.

    Returns:
        dict with each term and their weighted sum ``"total"``.
    """
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    terms = {
        "pos": positional_loss(out["landmarks"], target, scale),
        "vel": velocity_loss(out["landmarks"], target, scale),
    }
    if "mu" in out:
        terms.update(vae_losses(out))
    terms["total"] = sum(w[k] * v for k, v in terms.items())
    return terms


__all__ = [
    "BandSelfAttention",
    "DEFAULT_WEIGHTS",
    "DynamicLandmarkTransformer",
    "ShapeHead",
    "TransformerBlock",
    "landmark_losses",
    "positional_loss",
    "velocity_loss",
]
