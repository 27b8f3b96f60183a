"""A small static NeRF on a pluggable encoding (tri-plane hash or 3D hash grid).

The field is ER-NeRF's head network without audio, eyes or per-frame codes
(paper Eq. 5 with those inputs removed)::

    f = Enc(x)                                    # TriPlane: H_xy ⊕ H_yz ⊕ H_xz (Eq. 4), or a 3D HashGrid
    sigma, g = DensityMLP(f)                      # sigma = exp(raw), gradient clamped (truncated exp)
    rgb = sigmoid(ColourMLP(g [, view dir]))

Notebook 03 fits it (:func:`talkface_lite.training.static_nerf.fit_static_nerf`) to posed
images of :class:`~talkface_lite.data.synthetic.scene.EllipsoidHead` and compares a
tri-plane with a 3D hash grid of the same number of parameters.

Explained in notebooks/03_triplane_nerf.ipynb.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .layers import mlp, trunc_exp


class StaticNeRF(nn.Module):
    """Encoding -> density MLP -> colour MLP.

    Args:
        encoding: module mapping points ``(n, 3)`` in ``[-bound, bound]`` to ``(n, n_output_dims)``
            (a :class:`~talkface_lite.encoding.triplane.TriPlane`, or a 3D hash grid in :class:`BoxEncoding`).
        hidden: MLP width (ER-NeRF: 64).
        geo_features: features passed from the density to the colour MLP.
        n_density_layers, n_colour_layers: linear layers per MLP (ER-NeRF: 3 and 2).
        view_dependent: feed the unit view direction to the colour MLP.

    Explained in notebooks/03_triplane_nerf.ipynb.
    """

    def __init__(
        self,
        encoding: nn.Module,
        hidden: int = 64,
        geo_features: int = 15,
        n_density_layers: int = 2,
        n_colour_layers: int = 2,
        view_dependent: bool = False,
    ):
        super().__init__()
        if not hasattr(encoding, "n_output_dims"):
            raise TypeError("encoding must expose n_output_dims (TriPlane, or HashGrid wrapped in BoxEncoding)")
        self.encoding = encoding
        self.view_dependent = view_dependent
        self.density_net = mlp(encoding.n_output_dims, hidden, 1 + geo_features, n_density_layers)
        self.colour_net = mlp(geo_features + (3 if view_dependent else 0), hidden, 3, n_colour_layers)

    def encoding_parameters(self):
        return list(self.encoding.parameters())

    def mlp_parameters(self):
        return list(self.density_net.parameters()) + list(self.colour_net.parameters())

    def density(self, points: torch.Tensor) -> torch.Tensor:
        """``sigmas: (n,)`` at ``points: (n, 3)``."""
        return trunc_exp(self.density_net(self.encoding(points))[:, 0])

    def forward(self, points: torch.Tensor, rays_d: Optional[torch.Tensor] = None):
        """``points, rays_d: (n, 3)`` (positions and unit view directions) -> ``sigmas (n,), rgbs (n, 3)``."""
        h = self.density_net(self.encoding(points))  # (n, 1 + geo_features)
        sigmas = trunc_exp(h[:, 0])
        g = h[:, 1:]
        if self.view_dependent:
            if rays_d is None:
                raise ValueError("this model is view dependent: pass the view directions rays_d (n, 3)")
            g = torch.cat([g, rays_d], -1)
        return sigmas, torch.sigmoid(self.colour_net(g))


__all__ = ["StaticNeRF"]
