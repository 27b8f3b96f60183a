"""Camera, head pose and shading for the synthetic speaker (one frame at a time).

Conventions (the same as the dataset format, :mod:`talkface_lite.data.dataset`):

* world = head frame (:mod:`talkface_lite.landmarks`): the head is static and
  its motion is folded into the camera, so ``pose`` is the camera-to-world
  matrix of an OpenCV camera (x right, y down, z forward);
* intrinsics: square pixels, principal point at the image centre, a ~22 degree
  vertical field of view at :data:`CAMERA_DISTANCE`, framing head and neck.

Shading is fixed in the head frame (a key and a fill light, Lambert plus a
small Blinn-Phong highlight that depends on the view), so the scene is a true
static 3D radiance field up to the moving lips, lids and jaw: what a NeRF is
asked to learn.

Explained in notebooks/00_setup_and_tour.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from . import face_texture as tex
from .head_model import CAVITY, EYE, NECK, SKIN, TEETH, FaceState, HeadModel
from .rasterizer import interpolate, project, rasterize

CAMERA_DISTANCE = 7.0  # dm from the skull centre
LOOK_AT = np.array([0.0, -0.18, 0.0])
VERTICAL_EXTENT = 2.9  # dm of the subject covered by the image height at the look-at depth
KEY_LIGHT = np.array([-0.45, 0.55, 1.0]) / np.linalg.norm([-0.45, 0.55, 1.0])
FILL_LIGHT = np.array([0.7, 0.1, 0.6]) / np.linalg.norm([0.7, 0.1, 0.6])


def intrinsics_for(size: int) -> np.ndarray:
    """(3, 3) K of a ``size x size`` image framing the head (principal point at the centre)."""
    f = size * CAMERA_DISTANCE / VERTICAL_EXTENT
    return np.array([[f, 0.0, size / 2.0], [0.0, f, size / 2.0], [0.0, 0.0, 1.0]])


def rotation_xyz(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Head rotation (3, 3): yaw about y, pitch about x, roll about z (radians), R = Ry Rx Rz."""
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return ry @ rx @ rz


def camera_pose(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0, translation=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Camera-to-world (4, 4) of the fixed studio camera for a head with this pose.

    The studio camera looks at the head from +z (head frame) at
    :data:`CAMERA_DISTANCE`. A head rotated by ``R`` and shifted by ``t`` is
    equivalent to the inverse motion of the camera around a static head:
    ``c2w = H^-1 @ C`` with ``H = [R | t]`` and ``C`` the studio camera.
    """
    studio = np.eye(4)
    studio[:3, :3] = np.diag([1.0, -1.0, -1.0])  # OpenCV axes looking down -z
    studio[:3, 3] = LOOK_AT + np.array([0.0, 0.0, CAMERA_DISTANCE])
    head = np.eye(4)
    head[:3, :3] = rotation_xyz(yaw, pitch, roll)
    head[:3, 3] = translation
    return np.linalg.inv(head) @ studio


def world_to_camera(points: np.ndarray, c2w: np.ndarray) -> np.ndarray:
    """(N, 3) world points -> (N, 3) OpenCV camera coordinates."""
    r, t = c2w[:3, :3], c2w[:3, 3]
    return (points - t) @ r


def project_points(points: np.ndarray, c2w: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """(N, 3) world points -> (N, 2) pixel coordinates (pixel centres at +0.5)."""
    cam = torch.as_tensor(world_to_camera(points, c2w), dtype=torch.float64)
    return project(cam, torch.as_tensor(intrinsics, dtype=torch.float64)).numpy()


@dataclass
class Appearance:
    """Per-identity textures: skin albedo (torch image for sampling), palette, background, gaze."""

    albedo: torch.Tensor  # (1, 3, Ht, Wt)
    palette: tex.Palette
    background: np.ndarray  # (S, S, 3) float32
    gaze: np.ndarray  # (3,)

    @classmethod
    def create(cls, model: HeadModel, size: int, rng: np.random.Generator, tex_width: int = 1024) -> "Appearance":
        palette = tex.Palette.random(rng)
        albedo = tex.skin_albedo(model.layout, palette, rng, tex_width // 2, tex_width)
        bg = tex.background_plate(size, palette, rng)
        gaze = np.array([0.0, -0.05, 1.0])
        return cls(
            torch.from_numpy(albedo).permute(2, 0, 1)[None].contiguous(), palette, bg, gaze / np.linalg.norm(gaze)
        )


def _vertex_normals(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    tri = verts[faces]  # (F, 3, 3)
    fn = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)  # area-weighted
    vn = torch.zeros_like(verts).index_add_(0, faces.reshape(-1), fn.repeat_interleave(3, dim=0))
    return F.normalize(vn, dim=-1, eps=1e-12)


def render_frame(
    model: HeadModel,
    state: FaceState,
    c2w: np.ndarray,
    intrinsics: np.ndarray,
    size: int,
    look: Appearance,
    mesh: Optional[tuple] = None,
    return_depth: bool = False,
):
    """Render one ``size x size`` RGB frame.

    Args:
        model: the head geometry.
        state: expression of this frame.
        c2w: (4, 4) camera-to-world (OpenCV).
        intrinsics: (3, 3) K.
        size: image height = width.
        look: the identity's textures.
        mesh: a precomputed ``model.mesh(state)`` (to reuse it across cameras).
        return_depth: also return the (size, size) camera-space depth map (inf = background).

    Returns:
        (size, size, 3) uint8, or ``(image, depth)`` with ``return_depth``.
    """
    verts, faces, mats, cull, params = mesh if mesh is not None else model.mesh(state)
    v = torch.from_numpy(verts.astype(np.float32))
    f = torch.from_numpy(faces.astype(np.int64))
    cam = torch.from_numpy(world_to_camera(verts, c2w).astype(np.float32))
    frags = rasterize(
        cam, f, torch.from_numpy(intrinsics.astype(np.float32)), size, size, cullable=torch.from_numpy(cull)
    )
    img = torch.from_numpy(look.background.copy()).reshape(-1, 3)
    m = frags.mask.reshape(-1)
    depth = frags.depth.numpy()
    if not bool(m.any()):
        out = (img.reshape(size, size, 3).numpy() * 255 + 0.5).astype(np.uint8)
        return (out, depth) if return_depth else out
    normals = _vertex_normals(v, f)
    prm = torch.from_numpy(np.nan_to_num(params).astype(np.float32))
    attrs = torch.cat([v, normals, prm], dim=1)  # (V, 8)
    a = interpolate(frags, f, attrs)  # (P, 8)
    pos, nrm, uv = a[:, :3], F.normalize(a[:, 3:6], dim=-1, eps=1e-12), a[:, 6:8]
    fid = frags.face.reshape(-1)[m]
    mat = torch.from_numpy(mats.astype(np.int64))[fid]  # (P,)
    eye_pos = torch.from_numpy(c2w[:3, 3].astype(np.float32))
    view = F.normalize(eye_pos - pos, dim=-1)
    flip = (nrm * view).sum(-1, keepdim=True) < 0  # two-sided parts face the viewer
    nrm = torch.where(flip & (mat[:, None] >= CAVITY), -nrm, nrm)
    # albedo per material
    grid = torch.stack([uv[:, 0] / np.pi, -uv[:, 1] / (np.pi / 2)], -1).view(1, 1, -1, 2)
    skin = F.grid_sample(look.albedo, grid, mode="bilinear", padding_mode="border", align_corners=True)
    albedo = skin[0, :, 0].T  # (P, 3)
    pal = look.palette
    neck_shade = 0.55 + 0.3 * ((-0.75 - pos[:, 1:2]) / 0.4).clamp(0, 1)  # in the shadow of the jaw
    neck = torch.tensor(pal.skin, dtype=torch.float32) * neck_shade
    albedo = torch.where((mat == NECK)[:, None], neck, albedo)
    if bool((mat == EYE).any()):
        sel = mat == EYE
        p = pos[sel].numpy()
        side = np.where(p[:, 0] < 0, -1, 1)
        centres = np.stack([model.eye_centre(-1), model.eye_centre(1)])[(side + 1) // 2]
        rel = p - centres
        rel /= np.linalg.norm(rel, axis=1, keepdims=True)
        albedo[sel] = torch.from_numpy(tex.eye_colour(rel, pal, look.gaze).astype(np.float32))
    depth_in = (pos[:, 2] - 0.9).clamp(max=0)  # cavity darkens with depth
    cav = torch.tensor(tex.CAVITY_COLOUR, dtype=torch.float32) * torch.exp(3 * depth_in)[:, None]
    albedo = torch.where((mat == CAVITY)[:, None], cav, albedo)
    albedo = torch.where((mat == TEETH)[:, None], torch.tensor(tex.TEETH_COLOUR, dtype=torch.float32), albedo)
    # lighting in the head frame
    key = torch.tensor(KEY_LIGHT, dtype=torch.float32)
    fill = torch.tensor(FILL_LIGHT, dtype=torch.float32)
    diffuse = 0.75 * (nrm @ key).clamp(min=0) + 0.25 * (nrm @ fill).clamp(min=0)
    ambient = torch.where(mat == CAVITY, 0.6, torch.where(mat == TEETH, 0.45, 0.32))
    half = F.normalize(key[None] + view, dim=-1)
    shiny = torch.where(mat == EYE, 0.6, torch.where(mat == SKIN, 0.06, 0.02))
    power = torch.where(mat == EYE, 60.0, 12.0)
    spec = shiny * (nrm * half).sum(-1).clamp(min=0) ** power
    col = albedo * (ambient + diffuse)[:, None] + spec[:, None]
    img[m] = col.clamp(0, 1)
    out = (img.reshape(size, size, 3).numpy() * 255 + 0.5).astype(np.uint8)
    return (out, depth) if return_depth else out


__all__ = [
    "CAMERA_DISTANCE",
    "intrinsics_for",
    "rotation_xyz",
    "camera_pose",
    "world_to_camera",
    "project_points",
    "Appearance",
    "render_frame",
]
