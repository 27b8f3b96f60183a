"""Colours of the synthetic speaker: skin albedo texture, eyes, mouth interior, background plate.

The skin albedo is an image over the head's rest parameters (longitude
``phi`` in [-pi, pi] across, latitude ``theta`` in [-pi/2, pi/2] down the rows,
north up), so it moves with the lids and lips it is painted on. It holds a
per-identity skin tone with low-frequency mottling, blush, lips whose
borders are the same curves the lip landmarks sit on, brows, eyelash line,
nostrils, and hair. Eyes are coloured from the 3D position on the eyeball
(sclera, iris, pupil), the mouth interior and teeth are flat materials, and
the background is a static, softly lit plate. All randomness comes from the
generator passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .head_model import FaceLayout, _smoothstep

SKIN_TONES = np.array(
    [[0.93, 0.76, 0.64], [0.86, 0.66, 0.52], [0.74, 0.54, 0.40], [0.58, 0.40, 0.29], [0.96, 0.80, 0.70]]
)
HAIR_COLOURS = np.array([[0.10, 0.07, 0.05], [0.25, 0.16, 0.09], [0.45, 0.30, 0.16], [0.06, 0.06, 0.07]])
IRIS_COLOURS = np.array([[0.30, 0.18, 0.08], [0.22, 0.35, 0.55], [0.28, 0.38, 0.22], [0.18, 0.11, 0.06]])
CAVITY_COLOUR = np.array([0.22, 0.05, 0.06])
TEETH_COLOUR = np.array([0.92, 0.89, 0.80])


@dataclass
class Palette:
    """The identity's colours (drawn from the seed)."""

    skin: np.ndarray
    hair: np.ndarray
    iris: np.ndarray
    lips: np.ndarray
    background: np.ndarray  # (2, 3) top and bottom colours

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Palette":
        skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.95, 1.03, 3)
        hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))]
        iris = IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))]
        lips = np.clip(skin * np.array([0.86, 0.52, 0.52]) + rng.uniform(-0.03, 0.03, 3), 0, 1)
        hue = rng.uniform(0, 1)
        base = np.array([0.35 + 0.2 * np.cos(2 * np.pi * hue), 0.45 + 0.1 * np.sin(2 * np.pi * hue), 0.6])
        bg = np.stack([np.clip(base + 0.15, 0, 1), np.clip(base - 0.2, 0, 1)])
        return cls(np.clip(skin, 0, 1), hair, iris, lips, bg)


def _value_noise(rng: np.random.Generator, shape, cells, octaves=3) -> np.ndarray:
    """Smooth noise in [-1, 1] (bilinear upsampling of random grids, summed over octaves)."""
    out = np.zeros(shape)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        ny, nx = cells[0] * 2**o + 1, cells[1] * 2**o + 1
        grid = rng.uniform(-1, 1, (ny, nx))
        ys = np.linspace(0, ny - 1, shape[0])
        xs = np.linspace(0, nx - 1, shape[1])
        y0, x0 = np.floor(ys).astype(int).clip(0, ny - 2), np.floor(xs).astype(int).clip(0, nx - 2)
        fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
        g = (
            grid[y0][:, x0] * (1 - fy) * (1 - fx)
            + grid[y0 + 1][:, x0] * fy * (1 - fx)
            + grid[y0][:, x0 + 1] * (1 - fy) * fx
            + grid[y0 + 1][:, x0 + 1] * fy * fx
        )
        out += amp * g
        total += amp
        amp *= 0.5
    return out / total


def lip_borders(layout: FaceLayout, phi: np.ndarray):
    """Rest latitudes of the upper and lower vermilion borders at longitude ``phi``."""
    w = layout.mouth_half_width * 1.02
    u = np.clip(phi / w, -1.0, 1.0)
    up = np.interp(u, [-1, -0.62, -0.25, 0, 0.25, 0.62, 1], [0, 0.75, 1.05, 0.9, 1.05, 0.75, 0])
    lo = np.interp(u, [-1, -0.62, -0.3, 0, 0.3, 0.62, 1], [0, 0.7, 0.95, 1.0, 0.95, 0.7, 0])
    inside = np.abs(phi) <= w
    return (
        layout.mouth_theta + np.where(inside, layout.upper_lip * up, 0.0),
        layout.mouth_theta - np.where(inside, layout.lower_lip * lo, 0.0),
    )


def brow_line(layout: FaceLayout, aphi: np.ndarray) -> np.ndarray:
    """Rest latitude of the brow centre line at |phi| (same curve as landmarks 17-26)."""
    return layout.brow_theta + 0.035 * np.sin(np.pi * (aphi - 0.10) / 0.5 + 0.2)


def skin_albedo(
    layout: FaceLayout, palette: Palette, rng: np.random.Generator, height: int = 512, width: int = 1024
) -> np.ndarray:
    """(height, width, 3) float32 albedo over (theta, phi); row 0 is theta = +pi/2."""
    theta = np.linspace(np.pi / 2, -np.pi / 2, height)[:, None] * np.ones((1, width))
    phi = np.linspace(-np.pi, np.pi, width)[None, :] * np.ones((height, 1))
    aphi = np.abs(phi)
    col = palette.skin * (1.0 + 0.06 * _value_noise(rng, (height, width), (8, 16))[..., None])
    col = col * (1.0 + 0.025 * rng.standard_normal((height, width, 1)))  # pores
    blush = np.exp(-(((aphi - 0.42) / 0.14) ** 2) - ((theta + 0.22) / 0.1) ** 2)
    col = col * (1 - 0.12 * blush[..., None] * np.array([0.0, 1.0, 0.8]))
    # eye surroundings a touch darker, lash line on the upper lid margin
    for side in (-1, 1):
        s = (phi - side * layout.eye_phi) / layout.eye_half_width
        shade = np.exp(-(s**2) / 1.6 - ((theta - layout.eye_theta - 0.02) / 0.08) ** 2)
        col = col * (1 - 0.25 * shade[..., None])
        du = theta - layout.eye_theta
        lash = (np.abs(s) < 1.05) & (du > 0) & (du < 0.028 * np.clip(1.2 - np.abs(s), 0.3, 1))
        col = np.where(lash[..., None], palette.hair * 0.6, col)
        lower = (np.abs(s) < 0.95) & (du < 0) & (du > -0.008)
        col = np.where(lower[..., None], col * 0.6, col)
    # lips
    up, lo = lip_borders(layout, phi)
    lip = _smoothstep((up - theta) / 0.008) * _smoothstep((theta - lo) / 0.008)
    col = col * (1 - lip[..., None]) + palette.lips * lip[..., None]
    # brows
    band = np.abs(theta - brow_line(layout, aphi)) < 0.022 * np.clip(1.3 - (aphi - 0.1) / 0.6, 0.3, 1.2)
    band &= (aphi > 0.08) & (aphi < layout.eye_phi + 0.24)
    hairs = 0.75 + 0.25 * rng.uniform(size=(height, width))
    col = np.where(band[..., None], palette.hair * hairs[..., None] + 0.1 * col, col)
    # nostrils
    for side in (-1, 1):
        n = ((phi - side * 0.05) / 0.032) ** 2 + ((theta - layout.nose_base - 0.02) / 0.016) ** 2 < 1
        col = np.where(n[..., None], col * 0.3, col)
    # hair: frontal hairline, down to the ears at the sides, to the nape at the back
    line = layout.hairline - 0.55 * _smoothstep((aphi - 0.75) / 0.6) - 0.8 * _smoothstep((aphi - 1.7) / 0.6)
    line = line + 0.025 * _value_noise(rng, (height, width), (4, 24), octaves=2)
    hair = _smoothstep((theta - line) / 0.02)
    strands = 1.0 + 0.2 * _value_noise(rng, (height, width), (2, 256), octaves=2)
    col = col * (1 - hair[..., None]) + (palette.hair * strands[..., None]) * hair[..., None]
    return np.clip(col, 0, 1).astype(np.float32)


def background_plate(size: int, palette: Palette, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) float32 static background: vertical gradient, soft shapes, a little grain."""
    y = np.linspace(0, 1, size)[:, None, None]
    img = palette.background[0] * (1 - y) + palette.background[1] * y * np.ones((1, size, 1))
    yy, xx = np.mgrid[0:size, 0:size] / size
    for _ in range(4):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.15, 0.4)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / r**2)
        img = img * (1 + rng.uniform(-0.15, 0.15) * blob[..., None])
    img = img + 0.01 * rng.standard_normal((size, size, 1))
    return np.clip(img, 0, 1).astype(np.float32)


def eye_colour(rel: np.ndarray, palette: Palette, gaze: np.ndarray) -> np.ndarray:
    """Colour of eyeball points.

    Args:
        rel: (P, 3) unit vectors from the eyeball centre to the surface point.
        gaze: (3,) unit gaze direction (head frame).

    Returns:
        (P, 3) albedo: pupil within 0.18 rad of the gaze, iris to 0.5 rad (darker rim), sclera beyond.
    """
    ang = np.arccos(np.clip(rel @ gaze, -1, 1))[:, None]
    sclera = np.array([0.93, 0.90, 0.88]) * (1 - 0.25 * np.clip((ang - 0.6) / 0.8, 0, 1))
    iris = palette.iris * (1.0 - 0.45 * np.clip((ang - 0.35) / 0.15, 0, 1))
    col = np.where(ang < 0.5, iris, sclera)
    return np.where(ang < 0.18, np.array([0.03, 0.03, 0.03]), col)


__all__ = [
    "Palette",
    "skin_albedo",
    "background_plate",
    "eye_colour",
    "lip_borders",
    "brow_line",
    "CAVITY_COLOUR",
    "TEETH_COLOUR",
]
