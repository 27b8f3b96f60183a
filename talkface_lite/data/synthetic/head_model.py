"""The synthetic speaker's 3D head: a deformable triangle mesh with true 68 landmarks.

The skin is a *star-shaped* surface around the skull centre: a direction with
longitude ``phi`` (about the y axis, 0 = straight out of the face) and latitude
``theta`` (up positive) meets the skin at radius ``R(phi, theta)``, a rounded
superellipsoid (skull, narrower jaw, longer chin) plus smooth bumps and dents
(nose ridge and wings, brow ridge, cheekbones, lips, chin, eye sockets, hair
volume). The mesh samples this surface on a (theta, phi) grid that is dense
over the face and coarse at the back. Head frame and units follow
:mod:`talkface_lite.landmarks` (x to the subject's left, y up, z out of the
face, decimetres).

Two *slits* are cut into the grid: the mouth (between two rows at
``mouth_theta``) and each eye (between two rows at ``eye_theta``). Per frame,

* the eyelids slide along the surface in parameter space: the aperture opens
  as an almond ``(1 - s^2)^0.6`` and closes with AU45; lid vertices ride on the
  eyeball plus a lid thickness, so the lids really cover the eye;
* the jaw rotates about a hinge near the ears (x axis through :data:`JAW_PIVOT`);
  the lower lip, chin and jaw follow with smooth weights, the upper lip stays,
  so the mouth slit opens into a lens-shaped hole;
* lip spread and rounding displace the lips (corners out / in and forward).

Behind the holes are real surfaces: eyeballs (spheres, coloured by position:
sclera, iris, pupil), a dark mouth cavity and two rows of teeth (the lower
row moves with the jaw). Landmarks are points of the same parametric surface
(lid margins, lip borders, slit edges, nose ridge, brows, the frontal jaw
silhouette) and go through exactly the same deformation as the vertices, so
they lie on the rendered surface by construction.

Explained in notebooks/00_setup_and_tour.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: materials (per face)
SKIN, EYE, CAVITY, TEETH, NECK = 0, 1, 2, 3, 4
#: jaw hinge (a point on the x-parallel rotation axis), head frame
JAW_PIVOT = np.array([0.0, -0.10, 0.0])
#: half-gap of a closed slit in radians (the two rows sit this far either side)
SLIT_EPS = 0.0015
LID_THICKNESS = 0.012
MAX_JAW_ANGLE = 0.16  # radians at jaw opening 1


@dataclass
class FaceLayout:
    """Where the features sit on the (phi, theta) parametrisation, plus the identity's shape knobs."""

    eye_phi: float = 0.36
    eye_theta: float = 0.035
    eye_half_width: float = 0.155
    lid_up: float = 0.060  # upper lid raise when open (rad)
    lid_down: float = 0.032  # lower lid drop when open (rad)
    brow_theta: float = 0.215
    nose_top: float = 0.07
    nose_tip: float = -0.215
    nose_height: float = 0.26  # how far the tip stands out (dm)
    nose_base: float = -0.29
    mouth_theta: float = -0.50
    mouth_half_width: float = 0.27
    upper_lip: float = 0.075  # vermilion heights (rad)
    lower_lip: float = 0.085
    width: float = 0.78  # skull half-width (dm)
    chin: float = 1.02  # lower half-height of the superellipsoid (dm)
    hairline: float = 0.62  # latitude of the frontal hairline (rad)
    eyeball_radius: float = 0.125

    @classmethod
    def random(cls, rng: np.random.Generator) -> "FaceLayout":
        """A slightly different face per seed (all within a range dlib still calls a face)."""
        j = lambda s: float(rng.uniform(-s, s))  # noqa: E731
        return cls(
            eye_phi=0.36 + j(0.015),
            eye_theta=0.035 + j(0.01),
            eye_half_width=0.155 + j(0.008),
            brow_theta=0.215 + j(0.015),
            nose_tip=-0.215 + j(0.02),
            nose_height=0.26 + j(0.03),
            mouth_theta=-0.50 + j(0.02),
            mouth_half_width=0.27 + j(0.02),
            width=0.78 + j(0.03),
            chin=1.02 + j(0.03),
            hairline=0.62 + j(0.06),
            upper_lip=0.075 + j(0.01),
            lower_lip=0.085 + j(0.01),
        )


@dataclass
class FaceState:
    """Per-frame expression: jaw opening, lip spread, rounding in [0, 1] / [-1, 1], eye closure per eye."""

    jaw: float = 0.0
    spread: float = 0.0
    round: float = 0.0
    close_right: float = 0.0
    close_left: float = 0.0


def step_for_size(size: int) -> float:
    """Mesh step (radians) for a ``size x size`` image: a vertex every ~1.5 pixels over the face."""
    return float(np.clip(5.0 / size, 0.008, 0.03))


def directions(phi: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Unit directions (..., 3) for longitude ``phi`` and latitude ``theta``."""
    ct = np.cos(theta)
    return np.stack([ct * np.sin(phi), np.sin(theta), ct * np.cos(phi)], axis=-1)


def _g(phi, theta, p0, t0, sp, st):
    return np.exp(-(((phi - p0) / sp) ** 2) - ((theta - t0) / st) ** 2)


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass
class HeadModel:
    """Geometry of one synthetic identity; see the module docstring.

    Args:
        layout: feature placement and shape knobs.
        step: angular grid step over the face (radians); ~5 / image size gives a
            vertex every 1-2 pixels (:func:`step_for_size`).
    """

    layout: FaceLayout = field(default_factory=FaceLayout)
    step: float = 0.02

    def __post_init__(self):
        self._build()

    # ------------------------------------------------------------------ surface
    def skin_radius(self, phi: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """R(phi, theta): distance from the skull centre to the skin (no eyeballs), dm."""
        L = self.layout
        d = directions(phi, theta)
        dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
        low = np.clip(-dy - 0.25, 0.0, 1.0)
        a = L.width * (1.0 - 0.42 * low**1.3)  # jaw narrower than the skull
        under = 0.78 + 0.22 * _smoothstep((dz - 0.15) / 0.5)  # the jaw's underside rises to the neck
        b = np.where(dy > 0, 1.10, L.chin * under)
        c = np.where(dz > 0, 0.90, 1.02)
        p = 2.4
        r = (np.abs(dx / a) ** p + np.abs(dy / b) ** p + np.abs(dz / c) ** p) ** (-1.0 / p)
        front = _smoothstep((dz - 0.2) / 0.5)
        ap = np.abs(phi)
        # nose: a ridge from the bridge to the tip whose height and width grow downwards
        t = np.clip((L.nose_top - theta) / (L.nose_top - L.nose_tip), 0.0, 1.15)
        width = 0.035 + 0.045 * t
        height = 0.04 + (L.nose_height - 0.04) * np.clip(t, 0, 1) ** 1.6
        below = np.clip((L.nose_tip - theta) / 0.05, 0.0, None)  # the tip rounds off below
        r = r + height * np.exp(-((phi / width) ** 2) - below**2) * (theta < L.nose_top + 0.06)
        r = r + 0.11 * _g(ap, theta, 0.085, L.nose_tip - 0.035, 0.055, 0.045)  # nostril wings
        r = r + 0.05 * _g(ap, theta, 0.33, L.brow_theta + 0.01, 0.22, 0.05)  # brow ridge
        r = r + 0.05 * _g(ap, theta, 0.50, -0.12, 0.15, 0.12)  # cheekbones
        r = r + 0.05 * _g(phi, theta, 0.0, L.mouth_theta, 0.35, 0.22) * front  # muzzle
        r = r + 0.035 * _g(phi, theta, 0.0, L.mouth_theta + 0.04, 0.24, 0.035)  # upper lip
        r = r + 0.040 * _g(phi, theta, 0.0, L.mouth_theta - 0.045, 0.22, 0.04)  # lower lip
        r = r - 0.025 * _g(phi, theta, 0.0, L.mouth_theta - 0.13, 0.2, 0.035)  # labiomental fold
        r = r + 0.07 * _g(phi, theta, 0.0, L.mouth_theta - 0.30, 0.22, 0.12)  # chin
        r = r - 0.10 * _g(ap, theta, L.eye_phi, L.eye_theta, 0.17, 0.11)  # eye sockets
        r = r + 0.035 * _smoothstep((theta - L.hairline + 0.05 + 0.3 * np.clip(ap - 0.6, 0, None)) / 0.15)  # hair
        return r

    def eye_centre(self, side: int) -> np.ndarray:
        """(3,) eyeball centre; ``side`` -1 for the subject's right eye (x < 0), +1 for the left."""
        L = self.layout
        d = directions(np.array(side * L.eye_phi), np.array(L.eye_theta))
        front = self.skin_radius(np.array(side * L.eye_phi), np.array(L.eye_theta)) + 0.035
        return d * (front - L.eyeball_radius)

    def _eyeball_radius_along(self, d: np.ndarray, side: int) -> np.ndarray:
        """Radius at which directions d (..., 3) leave the eyeball (NaN when they miss it)."""
        e = self.eye_centre(side)
        bq = (d * e).sum(-1)
        disc = bq**2 - (e @ e - self.layout.eyeball_radius**2)
        return np.where(disc >= 0, bq + np.sqrt(np.clip(disc, 0, None)), np.nan)

    # ------------------------------------------------------------ deformation
    def _lid_shift(self, phi, theta, state: FaceState):
        """Parameter-space eyelid motion: d(theta) for points at (phi, theta); the rest mesh has the eyes shut."""
        L = self.layout
        shift = np.zeros_like(theta)
        for side, close in ((-1, state.close_right), (1, state.close_left)):
            s = (phi - side * L.eye_phi) / L.eye_half_width
            prof = np.clip(1.0 - s**2, 0.0, 1.0) ** 0.6
            open_ = 1.0 - float(np.clip(close, 0.0, 1.0))
            du = theta - L.eye_theta
            up = (du > 0) * np.clip(1.0 - du / 0.16, 0.0, 1.0)  # upper lid skin folds up
            down = (du < 0) * np.clip(1.0 + du / 0.10, 0.0, 1.0)
            shift += prof * open_ * (up * L.lid_up - down * L.lid_down)
        return shift

    def _jaw_weight(self, phi, theta):
        L = self.layout
        rel = L.mouth_theta - theta  # > 0 below the mouth line
        lens = np.clip(1.0 - (phi / L.mouth_half_width) ** 2, 0.0, 1.0) ** 0.5
        side = 1.0 - _smoothstep((np.abs(phi) - 0.9) / 0.6)
        ramp = _smoothstep(rel / (0.18 + 0.35 * np.clip(np.abs(phi) - L.mouth_half_width, 0, None)))
        w = np.where(rel > 0, lens + (1.0 - lens) * ramp, 0.0)
        return w * side

    def _static_terms(self, phi, theta):
        """Per-point quantities that do not change with the expression (cached for mesh vertices)."""
        L = self.layout
        near = np.zeros(np.shape(phi), dtype=bool)
        for side in (-1, 1):
            near |= (np.abs(phi - side * L.eye_phi) < 1.3 * L.eye_half_width) & (np.abs(theta - L.eye_theta) < 0.20)
        g = np.exp(-((phi / 0.36) ** 4) - ((theta - L.mouth_theta) / 0.14) ** 2)
        u = np.clip(phi / L.mouth_half_width, -1.3, 1.3)
        return {
            "eye": near,
            "radius": self.skin_radius(phi, theta),
            "lip_g": g,
            "lip_u": u,
            "jaw_w": self._jaw_weight(phi, theta),
        }

    def deform_skin(self, phi: np.ndarray, theta: np.ndarray, state: FaceState, cache: dict = None) -> np.ndarray:
        """Head-frame positions (..., 3) of skin points given by their rest parameters.

        Args:
            phi, theta: (...) rest parameters of the points.
            state: the expression.
            cache: :meth:`_static_terms` of these points (optional, for speed).
        """
        L = self.layout
        cache = self._static_terms(phi, theta) if cache is None else cache
        near = cache["eye"]
        th = np.array(theta, dtype=np.float64, copy=True)
        r = np.array(cache["radius"], dtype=np.float64, copy=True)
        ph_e = np.asarray(phi)[near]
        th[near] = np.asarray(theta)[near] + self._lid_shift(ph_e, np.asarray(theta)[near], state)
        r[near] = self.skin_radius(ph_e, th[near])
        d = directions(np.asarray(phi), th)
        de = d[near]
        for side in (-1, 1):
            re = self._eyeball_radius_along(de, side) + LID_THICKNESS
            close = (np.abs(ph_e - side * L.eye_phi) < 1.3 * L.eye_half_width) & (np.abs(th[near] - L.eye_theta) < 0.13)
            r[near] = np.where(close & np.isfinite(re), np.fmax(r[near], re), r[near])
        p = d * r[..., None]
        # lips: spread moves the corners out, rounding pulls them in and pushes the lips forward
        g, u = cache["lip_g"], cache["lip_u"]
        p[..., 0] += (0.035 * state.spread - 0.06 * state.round) * u * g
        p[..., 2] += 0.06 * state.round * g * np.clip(1 - u**2, 0, 1)
        return self._rotate_jaw(p, cache["jaw_w"] * state.jaw)

    @staticmethod
    def _rotate_jaw(p: np.ndarray, amount: np.ndarray) -> np.ndarray:
        ang = MAX_JAW_ANGLE * amount
        rel = p - JAW_PIVOT
        c, s = np.cos(ang), np.sin(ang)
        y = rel[..., 1] * c - rel[..., 2] * s
        z = rel[..., 1] * s + rel[..., 2] * c
        return np.stack([p[..., 0], y + JAW_PIVOT[1], z + JAW_PIVOT[2]], axis=-1)

    # ------------------------------------------------------------------- meshes
    def _grid_rows(self):
        L, h = self.layout, self.step
        dense = np.arange(-1.25, 1.05, h)
        coarse = np.r_[np.arange(-1.52, -1.25, 0.06), np.arange(1.05, 1.53, 0.05)]
        rows = np.sort(np.r_[dense, coarse])
        slits = [L.mouth_theta, L.eye_theta]
        for t in slits:
            rows = rows[np.abs(rows - t) > max(h * 0.45, 2 * SLIT_EPS)]
        rows = np.sort(np.r_[rows, [t + e for t in slits for e in (-SLIT_EPS, SLIT_EPS)]])
        cols = np.r_[np.arange(-np.pi, -1.5, 0.06), np.arange(-1.5, 1.5, h), np.arange(1.5, np.pi - 0.03, 0.06)]
        return rows, cols

    def _build(self):
        L = self.layout
        rows, cols = self._grid_rows()
        nr, nc = len(rows), len(cols)
        th, ph = np.meshgrid(rows, cols, indexing="ij")
        self.skin_phi = np.r_[ph.ravel(), 0.0, 0.0]
        self.skin_theta = np.r_[th.ravel(), -np.pi / 2, np.pi / 2]
        idx = np.arange(nr * nc).reshape(nr, nc)
        c0, c1 = idx[:-1, :], np.roll(idx, -1, axis=1)[:-1, :]
        c2, c3 = idx[1:, :], np.roll(idx, -1, axis=1)[1:, :]
        # cut the slits: quads between the two slit rows over the slit's columns
        cut = np.zeros((nr - 1, nc), dtype=bool)
        pc, pn = cols, np.roll(cols, -1)
        r_m = np.searchsorted(rows, L.mouth_theta)
        cut[r_m - 1] = (np.abs(pc) < L.mouth_half_width) & (np.abs(pn) < L.mouth_half_width) & (pn > pc)
        r_e = np.searchsorted(rows, L.eye_theta)
        for side in (-1, 1):
            inside = (np.abs(pc - side * L.eye_phi) < L.eye_half_width) & (
                np.abs(pn - side * L.eye_phi) < L.eye_half_width
            )
            cut[r_e - 1] |= inside & (pn > pc)
        keep = ~cut.ravel()
        quads = np.stack([c0.ravel(), c1.ravel(), c3.ravel(), c2.ravel()], -1)[keep]
        tris = np.r_[quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]]
        bottom, top = nr * nc, nr * nc + 1
        ring0, ringN = idx[0], idx[-1]
        tris = np.r_[
            tris,
            np.stack([np.full(nc, bottom), np.roll(ring0, -1), ring0], -1),
            np.stack([np.full(nc, top), ringN, np.roll(ringN, -1)], -1),
        ]
        self.skin_faces = tris
        self._build_parts()
        self._build_landmark_params()

    def _sphere(self, centre, radii, n_th, n_ph, th_range=(-np.pi / 2, np.pi / 2), ph_range=(-np.pi, np.pi), wrap=True):
        th = np.linspace(*th_range, n_th)
        ph = np.linspace(*ph_range, n_ph, endpoint=not wrap)
        T, P = np.meshgrid(th, ph, indexing="ij")
        v = directions(P, T) * np.asarray(radii) + centre
        idx = np.arange(n_th * n_ph).reshape(n_th, n_ph)
        nxt = np.roll(idx, -1, axis=1) if wrap else idx[:, 1:]
        cur = idx if wrap else idx[:, :-1]
        q = np.stack([cur[:-1].ravel(), nxt[:-1].ravel(), nxt[1:].ravel(), cur[1:].ravel()], -1)
        return v.reshape(-1, 3), np.r_[q[:, [0, 1, 2]], q[:, [0, 2, 3]]]

    def _build_parts(self):
        """Static parts: eyeballs, neck, mouth cavity, teeth (vertices + faces + per-vertex jaw weight)."""
        L = self.layout
        parts = []
        for side in (-1, 1):
            v, f = self._sphere(self.eye_centre(side), [L.eyeball_radius] * 3, 18, 32)
            parts.append((v, f, EYE, np.zeros(len(v)), True))
            # a dark socket behind the eyeball fills the lid opening at the corners
            v, f = self._sphere(self.eye_centre(side) - np.array([0, 0, 0.05]), [0.2, 0.12, 0.1], 10, 16)
            parts.append((v, f, CAVITY, np.zeros(len(v)), False))
        ys, ph = np.meshgrid(
            np.linspace(-2.4, -0.55, 12), np.linspace(-np.pi, np.pi, 48, endpoint=False), indexing="ij"
        )
        v = np.stack([0.42 * np.sin(ph), ys, 0.38 * np.cos(ph) - 0.12], -1).reshape(-1, 3)  # neck column
        idx = np.arange(v.shape[0]).reshape(ys.shape)
        nxt = np.roll(idx, -1, axis=1)
        q = np.stack([idx[:-1].ravel(), nxt[:-1].ravel(), nxt[1:].ravel(), idx[1:].ravel()], -1)
        parts.append((v, np.r_[q[:, [0, 1, 2]], q[:, [0, 2, 3]]], NECK, np.zeros(len(v)), True))
        yc = float(directions(np.array(0.0), np.array(L.mouth_theta))[1] * 0.95)
        v, f = self._sphere(
            np.array([0.0, yc, 0.42]),
            [0.34, 0.19, 0.36],
            16,
            28,
            th_range=(-np.pi / 2, np.pi / 2),
            ph_range=(np.pi * 0.3, np.pi * 1.7),
            wrap=False,
        )
        parts.append((v, f, CAVITY, (v[:, 1] < yc).astype(float), False))
        for lower in (False, True):
            x = np.linspace(-0.17, 0.17, 18)
            hgt = np.linspace(0.0, 0.055, 4) * (-1 if lower else 1)
            X, H = np.meshgrid(x, hgt, indexing="ij")
            z = 0.80 - 1.6 * X**2
            v = np.stack([X, yc + 0.005 * (-1 if lower else 1) + H, z], -1).reshape(-1, 3)
            idx = np.arange(v.shape[0]).reshape(len(x), len(hgt))
            q = np.stack([idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()], -1)
            parts.append((v, np.r_[q[:, [0, 1, 2]], q[:, [0, 2, 3]]], TEETH, np.full(len(v), float(lower)), False))
        self.parts = parts

    def _build_landmark_params(self):
        """(phi, theta) of the 68 landmarks on the rest surface (iBUG order)."""
        L = self.layout
        ph, th = np.zeros(68), np.zeros(68)
        # jaw: the frontal silhouette of the neutral face, found numerically
        ph[:17], th[:17] = self._jaw_contour()
        # brows (outer -> inner on the right), following the brow band of the texture
        bp = np.linspace(L.eye_phi + 0.22, 0.10, 5)
        bt = L.brow_theta + 0.035 * np.sin(np.pi * (bp - 0.10) / 0.5 + 0.2)
        ph[17:22], th[17:22] = -bp, bt
        ph[22:27], th[22:27] = bp[::-1], bt[::-1]
        ph[27:31], th[27:31] = 0.0, np.linspace(L.nose_top - 0.01, L.nose_tip, 4)
        ph[31:36] = [-0.085, -0.045, 0.0, 0.045, 0.085]
        th[31:36] = L.nose_base + np.array([0.025, 0.005, -0.005, 0.005, 0.025])
        # eyes: corners on the slit ends, lids on the slit rows at s = -+1/3; both eyes are
        # listed from image-left to image-right (36 outer .. 39 inner; 42 inner .. 45 outer)
        for start, side in ((36, -1), (42, 1)):
            c, w = side * L.eye_phi, L.eye_half_width * 0.97
            ph[start : start + 6] = [c - w, c - w / 3, c + w / 3, c + w, c + w / 3, c - w / 3]
            th[start : start + 6] = L.eye_theta + SLIT_EPS * np.array([0, 1, 1, 0, -1, -1])
        # outer lips: corners, vermilion borders (cupid's bow on top)
        m, w = L.mouth_theta, L.mouth_half_width * 1.02
        xs = np.array([-1.0, -0.62, -0.25, 0.0, 0.25, 0.62, 1.0])
        up = m + L.upper_lip * np.array([0.0, 0.75, 1.05, 0.9, 1.05, 0.75, 0.0])
        ph[48:55], th[48:55] = xs * w, up
        xl = np.array([0.62, 0.3, 0.0, -0.3, -0.62])
        ph[55:60], th[55:60] = xl * w, m - L.lower_lip * np.array([0.7, 0.95, 1.0, 0.95, 0.7])
        # inner lips on the slit rows (coincide when the mouth is shut)
        wi = L.mouth_half_width * 0.92
        ph[60:68] = np.array([-1.0, -0.45, 0.0, 0.45, 1.0, 0.45, 0.0, -0.45]) * wi
        th[60:68] = m + SLIT_EPS * np.array([0, 1, 1, 1, 0, -1, -1, -1])
        th[[60, 64]] = m
        self.landmark_phi, self.landmark_theta = ph, th

    def _jaw_contour(self):
        """17 jaw points on the silhouette of the neutral face seen from the front."""
        L = self.layout
        pp, tt = np.meshgrid(np.linspace(-1.7, 1.7, 681), np.linspace(-1.2, 0.4, 321))
        pos = self.deform_skin(pp, tt, FaceState())
        dist = 7.0  # frontal camera distance used to define "silhouette"
        sx, sy = pos[..., 0] / (dist - pos[..., 2]), pos[..., 1] / (dist - pos[..., 2])
        cy = float(directions(np.array(0.0), np.array(L.eye_theta - 0.08))[1] * 0.9) / dist
        ang = np.arctan2(sy - cy, sx)
        rad = np.hypot(sx, sy - cy)
        targets = np.deg2rad(np.linspace(-180 - 8, -90, 9))  # image-left half; the face is symmetric
        out_p, out_t = [], []
        for a in targets:
            wedge = (np.abs(np.angle(np.exp(1j * (ang - a)))) < np.deg2rad(1.5)) & (pp <= 0)
            k = np.argmax(np.where(wedge, rad, -1))
            out_p.append(pp.ravel()[k]), out_t.append(tt.ravel()[k])
        out_p[-1] = 0.0
        phi = np.r_[out_p, -np.array(out_p[-2::-1])]
        theta = np.r_[out_t, out_t[-2::-1]]
        return phi, theta

    # ------------------------------------------------------------------- frames
    def mesh(self, state: FaceState):
        """Posed mesh in the head frame.

        Returns:
            ``(verts (V, 3), faces (F, 3), material (F,), cullable (F,), rest_params (V, 2))``
            where rest_params are (phi, theta) of skin vertices (NaN elsewhere).
        """
        if getattr(self, "_skin_cache", None) is None:
            self._skin_cache = self._static_terms(self.skin_phi, self.skin_theta)
        verts = [self.deform_skin(self.skin_phi, self.skin_theta, state, self._skin_cache)]
        faces = [self.skin_faces]
        mats = [np.full(len(self.skin_faces), SKIN)]
        cull = [np.ones(len(self.skin_faces), dtype=bool)]
        params = [np.stack([self.skin_phi, self.skin_theta], -1)]
        offset = len(verts[0])
        for v, f, mat, jaw_w, closed in self.parts:
            verts.append(self._rotate_jaw(v, jaw_w * state.jaw))
            faces.append(f + offset)
            mats.append(np.full(len(f), mat))
            cull.append(np.full(len(f), closed))
            params.append(np.full((len(v), 2), np.nan))
            offset += len(v)
        return (
            np.concatenate(verts),
            np.concatenate(faces),
            np.concatenate(mats),
            np.concatenate(cull),
            np.concatenate(params),
        )

    def landmarks(self, state: FaceState) -> np.ndarray:
        """(68, 3) head-frame landmarks for this expression."""
        return self.deform_skin(self.landmark_phi, self.landmark_theta, state)


__all__ = [
    "FaceLayout",
    "FaceState",
    "HeadModel",
    "directions",
    "step_for_size",
    "SKIN",
    "EYE",
    "CAVITY",
    "TEETH",
    "NECK",
]
