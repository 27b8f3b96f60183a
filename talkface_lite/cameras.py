"""Camera poses for synthetic scenes: look-at and orbits (OpenCV camera-to-world, see :mod:`.rendering`).

Explained in notebooks/03_triplane_nerf.ipynb.
"""

from __future__ import annotations

import math

import torch


def look_at(eye, target=(0.0, 0.0, 0.0), down=(0.0, 1.0, 0.0)) -> torch.Tensor:
    """OpenCV camera-to-world ``(4, 4)`` at ``eye`` looking at ``target`` (camera y towards world ``down``)."""
    eye, target, down = (torch.as_tensor(v, dtype=torch.float32) for v in (eye, target, down))
    fwd = target - eye
    fwd = fwd / fwd.norm()
    right = torch.linalg.cross(down, fwd)
    if right.norm() < 1e-6:
        raise ValueError("look_at: the viewing direction is parallel to `down`; pick another `down` vector")
    right = right / right.norm()
    c2w = torch.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, torch.linalg.cross(fwd, right), fwd, eye
    return c2w


def orbit_poses(n: int, radius: float = 3.0, max_yaw_deg: float = 40.0, max_pitch_deg: float = 15.0) -> torch.Tensor:
    """``(n, 4, 4)`` cameras on a sphere in front of the face (-z side), looking at the origin."""
    k = torch.arange(n, dtype=torch.float32)
    yaw = torch.deg2rad(max_yaw_deg * torch.cos(2 * math.pi * k / n))  # a Lissajous path over the frontal cap
    pitch = torch.deg2rad(max_pitch_deg * torch.sin(4 * math.pi * k / n + 0.5))
    eyes = torch.stack(
        [
            radius * torch.sin(yaw) * torch.cos(pitch),
            radius * torch.sin(pitch),
            -radius * torch.cos(yaw) * torch.cos(pitch),
        ],
        -1,
    )
    return torch.stack([look_at(e) for e in eyes])


__all__ = ["look_at", "orbit_poses"]
