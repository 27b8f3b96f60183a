"""Small building blocks shared by the NeRF models: density activation, MLPs, box encodings, counting.

Explained in notebooks/03_triplane_nerf.ipynb.
"""

from __future__ import annotations

import torch
from torch import nn


class _TruncExp(torch.autograd.Function):
    """``exp(x)`` whose gradient uses ``exp(min(x, 15))`` (Instant-NGP's density activation)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.exp(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.exp(x.clamp(max=15.0))


def trunc_exp(x: torch.Tensor) -> torch.Tensor:
    """Density activation: ``exp`` forward, gradient clamped at ``exp(15)``."""
    return _TruncExp.apply(x)


class BoxEncoding(nn.Module):
    """Adapts an encoder of ``[0, 1]^3`` inputs (a 3D :class:`HashGrid`) to points in ``[-bound, bound]^3``."""

    def __init__(self, encoder: nn.Module, bound: float = 1.0):
        super().__init__()
        self.encoder = encoder
        self.bound = float(bound)
        self.n_output_dims = encoder.n_output_dims

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.encoder((points + self.bound) / (2 * self.bound))


def mlp(n_in: int, hidden: int, n_out: int, n_layers: int) -> nn.Sequential:
    """``n_layers`` linear layers ``n_in -> hidden -> ... -> n_out`` with ReLU between them."""
    layers, width = [], n_in
    for _ in range(n_layers - 1):
        layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
        width = hidden
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["BoxEncoding", "count_parameters", "mlp", "trunc_exp"]
