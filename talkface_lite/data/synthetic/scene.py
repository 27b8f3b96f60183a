"""A procedural static head of soft coloured ellipsoids: a scene whose density and colour are known everywhere.

Notebook 03 renders it from known cameras (:mod:`talkface_lite.cameras`) with
:func:`talkface_lite.rendering.render_image` and fits a static NeRF to the images.

Explained in notebooks/03_triplane_nerf.ipynb.
"""

from __future__ import annotations

from typing import Optional

import torch


class EllipsoidHead:
    """A head of soft coloured ellipsoids (skull, hair cap, eyes with irises, nose, lips); y points down.

    ``__call__(points (n, 3), rays_d=None) -> sigmas (n,), rgbs (n, 3)``: density
    ``peak * sigmoid(-d / softness)`` summed over parts, with ``d`` the scaled
    distance ``(|(p - c) / r| - 1) * min(r)``; the colour is that of the part the
    point is most inside.
    """

    PARTS = (  # centre xyz, radii xyz, colour rgb
        ((0.0, 0.0, 0.0), (0.55, 0.7, 0.6), (0.93, 0.74, 0.62)),  # skull/face
        ((0.0, -0.28, 0.08), (0.6, 0.5, 0.6), (0.3, 0.18, 0.1)),  # hair cap (behind/above)
        ((-0.2, -0.12, -0.5), (0.11, 0.08, 0.08), (0.97, 0.97, 0.97)),  # eye whites
        ((0.2, -0.12, -0.5), (0.11, 0.08, 0.08), (0.97, 0.97, 0.97)),
        ((-0.2, -0.12, -0.57), (0.05, 0.05, 0.03), (0.15, 0.3, 0.5)),  # irises
        ((0.2, -0.12, -0.57), (0.05, 0.05, 0.03), (0.15, 0.3, 0.5)),
        ((0.0, 0.08, -0.6), (0.07, 0.14, 0.1), (0.88, 0.6, 0.5)),  # nose
        ((0.0, 0.33, -0.5), (0.2, 0.06, 0.08), (0.75, 0.2, 0.25)),  # lips
    )

    def __init__(self, peak: float = 40.0, softness: float = 0.02):
        self.centres = torch.tensor([p[0] for p in self.PARTS])
        self.radii = torch.tensor([p[1] for p in self.PARTS])
        self.colours = torch.tensor([p[2] for p in self.PARTS])
        self.peak, self.softness = peak, softness

    def __call__(self, points: torch.Tensor, rays_d: Optional[torch.Tensor] = None):
        rel = (points[:, None, :].float() - self.centres) / self.radii  # (n, parts, 3)
        d = (rel.norm(dim=-1) - 1.0) * self.radii.amin(-1)  # (n, parts) approx. signed distance
        inside = torch.sigmoid(-d / self.softness)
        sigmas = self.peak * inside.sum(-1)
        return sigmas.to(points.dtype), self.colours[d.argmin(-1)].to(points.dtype)


__all__ = ["EllipsoidHead"]
