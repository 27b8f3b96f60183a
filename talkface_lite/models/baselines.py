"""Baselines for audio -> landmarks, on the same features, so the transformer's value is measured.

All baselines share the transformer's interface: ``model(feats, eye)`` with
``feats (B, T, W, D)`` and ``eye (B, T, eye_dim)`` returns a dict with
``landmarks (B, T, 68, 3)``; they carry the same
:class:`~talkface_lite.models.landmark_transformer.ShapeHead` (mean shape +
offset scale) and are trained with the same positional + velocity loss
(:func:`~talkface_lite.models.landmark_transformer.landmark_losses`; they have
no VAE terms).

* :class:`MeanShapeBaseline`: the speaker's mean shape in every frame (what a
  model that ignores the audio scores; no parameters).
* :class:`FrameRegressor`: one frame's standardised window, flattened, mapped
  by a linear layer (``hidden=0``) or an MLP to the offsets: sees 320 ms of
  audio, no temporal context beyond it.
* :class:`TemporalConvBaseline`: AudioNet codes per frame, then a stack of
  1D convolutions over time (kernel 5, dilations 1, 2, 4: a receptive field of
  ±14 frames), the usual strong non-attention sequence model.

Explained in notebooks/05_landmark_transformer.ipynb.
"""

from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import nn

from .audio_encoder import AudioNet, FeatureNorm, as_windows
from .landmark_transformer import ShapeHead


class _LandmarkBaseline(nn.Module):
    """Shared parts: feature norm, shape head, input checks."""

    def __init__(self, dim_in: int, window: int, eye_dim: int, n_landmarks: int = 68):
        super().__init__()
        self.dim_in, self.window, self.eye_dim = dim_in, window, eye_dim
        self.norm = FeatureNorm(dim_in)
        self.shape = ShapeHead(n_landmarks)

    def fit_shape(self, landmarks: torch.Tensor):
        """Fit the mean shape and offset scale from training landmarks ``(T, 68, 3)``."""
        self.shape.fit(landmarks)
        return self

    def _inputs(self, feats: torch.Tensor, eye: Optional[torch.Tensor]):
        x = as_windows(feats)
        if x.ndim == 3:
            x = x.unsqueeze(0)  # (1, T, W, D)
        if x.shape[-2:] != (self.window, self.dim_in):
            raise ValueError(
                f"{type(self).__name__} was built for windows ({self.window}, {self.dim_in}) "
                f"but got features {tuple(x.shape)}"
            )
        B, T = x.shape[:2]
        if eye is None:
            eye = x.new_zeros(B, T, self.eye_dim)
        eye = torch.as_tensor(eye, dtype=x.dtype, device=x.device)
        if eye.ndim == 2:
            eye = eye.unsqueeze(-1) if eye.shape == (B, T) and self.eye_dim == 1 else eye.unsqueeze(0)
        if eye.shape != (B, T, self.eye_dim):
            raise ValueError(f"eye state must be (B, T, eye_dim) = ({B}, {T}, {self.eye_dim}), got {tuple(eye.shape)}")
        return self.norm(x), eye

    def _output(self, offsets: torch.Tensor) -> Dict[str, torch.Tensor]:
        B, T = offsets.shape[:2]
        return {"offsets": offsets.reshape(B, T, -1, 3), "landmarks": self.shape.to_landmarks(offsets)}


class MeanShapeBaseline(_LandmarkBaseline):
    """Predicts the speaker's mean shape for every frame (ignores audio and eyes)."""

    def forward(self, feats: torch.Tensor, eye: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """``feats: (B, T, W, D)`` -> dict with ``landmarks (B, T, 68, 3)``."""
        x, _ = self._inputs(feats, eye)
        B, T = x.shape[:2]
        return self._output(x.new_zeros(B, T, self.shape.n_landmarks * 3))


class FrameRegressor(_LandmarkBaseline):
    """Linear (``hidden=0``) or MLP regressor from one frame's flattened window (+ eye) to offsets.

    Args:
        dim_in: feature dimension ``D``.
        window: window length ``W``.
        eye_dim: eye-state size.
        hidden: 0 for a linear map, else the MLP width (two hidden layers).
    """

    def __init__(self, dim_in: int, window: int = 16, eye_dim: int = 1, hidden: int = 0, n_landmarks: int = 68):
        super().__init__(dim_in, window, eye_dim, n_landmarks)
        n_in, n_out = window * dim_in + eye_dim, n_landmarks * 3
        if hidden <= 0:
            self.net = nn.Linear(n_in, n_out)
        else:
            self.net = nn.Sequential(
                nn.Linear(n_in, hidden),
                nn.GELU(),
                nn.Dropout(0.1),
                nn.Linear(hidden, hidden),
                nn.GELU(),
                nn.Linear(hidden, n_out),
            )
        last = self.net if hidden <= 0 else self.net[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, feats: torch.Tensor, eye: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """``feats: (B, T, W, D)``, ``eye: (B, T, eye_dim)`` -> dict with ``landmarks (B, T, 68, 3)``."""
        x, eye = self._inputs(feats, eye)
        flat = torch.cat([x.flatten(-2), eye], dim=-1)  # (B, T, W * D + eye_dim)
        return self._output(self.net(flat))


class TemporalConvBaseline(_LandmarkBaseline):
    """AudioNet code per frame, then dilated 1D convolutions over time.

    Args:
        dim_in: feature dimension ``D``.
        window: window length ``W``.
        eye_dim: eye-state size.
        channels: conv width.
        dilations: one residual conv block (kernel 5) per dilation.
    """

    def __init__(
        self,
        dim_in: int,
        window: int = 16,
        eye_dim: int = 1,
        channels: int = 64,
        dilations=(1, 2, 4),
        n_landmarks: int = 68,
        dropout: float = 0.1,
    ):
        super().__init__(dim_in, window, eye_dim, n_landmarks)
        self.audio = AudioNet(dim_in, window, channels)
        self.eye = nn.Linear(eye_dim, channels)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(channels, channels, 5, padding=2 * d, dilation=d, padding_mode="replicate"),
                nn.GELU(),
                nn.Dropout(dropout),
            )
            for d in dilations
        )
        self.head = nn.Conv1d(channels, n_landmarks * 3, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, feats: torch.Tensor, eye: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """``feats: (B, T, W, D)``, ``eye: (B, T, eye_dim)`` -> dict with ``landmarks (B, T, 68, 3)``."""
        x, eye = self._inputs(feats, eye)
        h = (self.audio(x) + self.eye(eye)).transpose(1, 2)  # (B, C, T)
        for block in self.blocks:
            h = h + block(h)
        return self._output(self.head(h).transpose(1, 2))  # (B, T, 68 * 3)


def build_landmark_model(name: str, dim_in: int, window: int = 16, eye_dim: int = 1, **kw) -> nn.Module:
    """Construct a landmark model by name.

    Args:
        name: ``"mean"``, ``"linear"``, ``"mlp"``, ``"conv"`` or ``"transformer"``.
        dim_in, window, eye_dim: feature layout and eye-state size.
        **kw: passed to the model's constructor.
    """
    from .landmark_transformer import DynamicLandmarkTransformer

    builders = {
        "mean": lambda: MeanShapeBaseline(dim_in, window, eye_dim),
        "linear": lambda: FrameRegressor(dim_in, window, eye_dim, hidden=0, **kw),
        "mlp": lambda: FrameRegressor(dim_in, window, eye_dim, hidden=kw.pop("hidden", 128), **kw),
        "conv": lambda: TemporalConvBaseline(dim_in, window, eye_dim, **kw),
        "transformer": lambda: DynamicLandmarkTransformer(dim_in, window, eye_dim, **kw),
    }
    if name not in builders:
        raise ValueError(f"unknown landmark model {name!r}: choose one of {sorted(builders)}")
    return builders[name]()


__all__ = ["FrameRegressor", "MeanShapeBaseline", "TemporalConvBaseline", "build_landmark_model"]
