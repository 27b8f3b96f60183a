"""The dynamic landmark radiance field (paper §III-A/B, Eq. 4-5): density and colour of a talking head.

For a sample point ``x`` in the head frame (the dataset folds the head pose into
the camera, so rays already live there), a view direction ``d`` and the frame's
condition (audio windows, 68 3D landmarks, AU45, frame index)::

    f   = Enc(x)                                  # tri-plane hash H_xy ⊕ H_yz ⊕ H_xz (Eq. 4); or a 3D hash grid
    a   = AudioAttNet(AudioNet(windows))          # smoothed audio code A of the frame (§III-B)
    c   = LandmarkCode(x; landmarks)              # hash-grid landmark encoding, local (below)
    e   = AU45 / 5                                # blink feature (§III-C)
    h   = [f, c, sigmoid(W_a f) ⊙ a, [relu(W_e f), n_eye(x)] · e]
    sigma, g = DensityMLP(h);  sigma = trunc_exp(.)
    rgb = sigmoid(ColourMLP([g, SH(d), z_frame]))

**The hash-grid landmark encoding (our interpretation).** The paper encodes
the 3D landmarks "through the hash grid of Instant-NGP" into the field but
gives no equation. We read it as a *positional encoding of the landmarks
themselves*, made local:

1. every landmark ``k`` is encoded where it is now: ``u_k = P [H_lm(l_k), (l_k - l̄_k) / s]``,
   with ``H_lm`` a 3D multiresolution hash grid over the head box, ``l̄_k`` the
   speaker's mean (canonical) landmark, ``s`` the RMS displacement of the
   training clip and ``P`` a linear map to ``lm_dim`` channels;
2. a point ``x`` receives the codes of the landmarks near it:
   ``c(x) = sum_k exp(-|x - l̄_k|^2 / (2 r_k^2)) u_k``, with a learned radius
   ``r_k`` per landmark (initialised to ``lm_radius``, 0.2 dm = 2 cm).

The weights use the *canonical* landmark positions, so which points a landmark
can influence does not move with the prediction; a mouth landmark changes the
field around the mouth and (up to ``exp(-d^2 / 2r^2)``, about ``e^-8`` at the
brows) nowhere else. Notebook 07 checks this with the gradient of density
near the lips and near the brows with respect to the mouth landmarks. When the
variant has the blink feature, the eye landmarks (36-47) are held at their
canonical positions inside the code, so eye state reaches the field through
AU45 alone (the paper's separate eye path, §III-C).

**The blink feature.** ``e = AU45 / 5`` enters twice: gated by ER-NeRF's eye
attention ``relu(W_e f)``, which must learn where the eyes are, and by
``n_eye(x) = sum_{k in eyes} exp(-|x - l̄_k|^2 / 2 r_k^2)``, the same local
weights as the landmark code summed over the 12 eye landmarks: a prior that
says "here are the lids" from the first step. Blinks are rare (about 7 % of
frames) and small, and without that prior a short run never learns them.

**Audio as a residual term.** The audio code enters every variant through a
per-channel gate computed from the spatial features (ER-NeRF's region
attention; ER-NeRF uses the raw MLP output, we squash it with a sigmoid so it
is a gate). The density MLP's first layer is linear, so concatenating
``[f, c, gated a]`` *adds* ``W_a (gate ⊙ a)`` to the landmark-driven
pre-activation: a residual correction on top of the landmark code.

**Per-frame appearance latent.** As ER-NeRF's individual codes: a
``latent_dim`` vector per training frame (zero-initialised, lightly
regularised in training) enters the colour MLP only, absorbing per-frame
lighting or exposure changes. Frames without a code (held-out frames, new
audio) use the mean code of the training frames.

**Background.** The field models the head only; the dataset's static
background plate is composited behind it (``rgb + (1 - opacity) * plate``).

Variants (one config field, the rows of the paper's Table III): see
:data:`VARIANTS` and :data:`PAPER_NAMES`.

Explained in notebooks/07_two_stage_training.ipynb.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Dict, NamedTuple, Optional, Sequence

import torch
from torch import nn

from ..encoding.hashgrid import HashGrid, HashGridConfig
from ..encoding.spherical import sh_encode
from ..encoding.triplane import TriPlane, TriPlaneConfig
from .audio_encoder import AudioEncoder, as_windows
from .layers import BoxEncoding, mlp, trunc_exp

#: variant -> (landmark code, blink feature, spatial encoding)
VARIANTS = {
    "no_dlt_no_eye": dict(landmarks=False, eye=False, spatial="triplane"),
    "dlt_no_eye": dict(landmarks=True, eye=False, spatial="triplane"),
    "hash3d": dict(landmarks=True, eye=True, spatial="hash3d"),
    "dlt_eye": dict(landmarks=True, eye=True, spatial="triplane"),
}
#: the paper's Table III row names (D: Dynamic Landmark Transformer, E: eye/blink, Tri-Hash: tri-plane hash)
PAPER_NAMES = {
    "no_dlt_no_eye": "w/o D w/o E",
    "dlt_no_eye": "w/o E w D",
    "hash3d": "w E w D",
    "dlt_eye": "w Tri-Hash w E w D",
}
EYE_LANDMARKS = tuple(range(36, 48))
AU45_MAX = 5.0


@dataclasses.dataclass
class FieldConfig:
    """Everything that shapes a :class:`DynamicLandmarkField` (saved whole in a run's ``config.json``).

    Sizes default to ER-NeRF's head network: tri-plane 12 levels x 1 feature, base 64, finest 512, 2^14
    rows per plane (:meth:`TriPlaneConfig.er_nerf`); MLP width 64, density 3 layers, colour 2 layers,
    15 geometric features, SH degree 4, a 32-channel audio code over 8 neighbouring frames, 4-dim
    per-frame latents. The grid fields stay flat (``tri_*``, ``hash3d_*``, ``lm_*``) so that saved
    configs load unchanged; :meth:`triplane`, :meth:`hash3d` and :meth:`landmark_grid` turn them into
    the encoding configs the field builds.
    """

    variant: str = "dlt_eye"
    audio_dim: int = 80  # D of the (T, W, D) feature windows
    audio_window: int = 16  # W
    n_frames: int = 1  # rows of the per-frame latent table
    aabb: Sequence[float] = (-1.5, -1.6, -1.4, 1.5, 1.5, 1.5)  # head box in the head frame, dm
    # spatial encoding: the defaults are TriPlaneConfig.er_nerf() (488,616 table parameters; a test checks)
    tri_levels: int = 12
    tri_features: int = 1
    tri_log2: int = 14
    tri_base: int = 64
    tri_finest: int = 512
    hash3d_levels: int = 16  # 485,472 table parameters (3 dense levels + 13 of 2^14 rows, x 2), the tri-plane's budget
    hash3d_features: int = 2
    hash3d_log2: int = 14
    hash3d_base: int = 16
    hash3d_finest: int = 512
    # landmark code
    lm_levels: int = 6
    lm_features: int = 2
    lm_log2: int = 12
    lm_base: int = 4
    lm_finest: int = 64
    lm_dim: int = 16
    lm_radius: float = 0.2  # dm
    # audio
    audio_code_dim: int = 32
    audio_seq_len: int = 8
    # MLPs
    hidden: int = 64
    geo_features: int = 15
    density_layers: int = 3
    colour_layers: int = 2
    sh_degree: int = 4  # 0: colour does not depend on the view
    latent_dim: int = 4

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown field variant {self.variant!r}: use one of {sorted(VARIANTS)}")
        box = [float(v) for v in self.aabb]
        if len(box) != 6 or any(hi <= lo for lo, hi in zip(box[:3], box[3:])):
            raise ValueError(f"aabb must be [xmin, ymin, zmin, xmax, ymax, zmax] with max > min, got {box}")
        self.aabb = tuple(box)
        if not 0 <= self.sh_degree <= 4:
            raise ValueError(f"sh_degree must be 0..4, got {self.sh_degree}")

    def triplane(self) -> TriPlaneConfig:
        """The spatial tri-plane (``tri_*`` fields) over the normalised head box, bound 1."""
        return TriPlaneConfig(
            n_levels=self.tri_levels,
            n_features_per_level=self.tri_features,
            log2_hashmap_size=self.tri_log2,
            base_resolution=self.tri_base,
            finest_resolution=self.tri_finest,
            bound=1.0,
        )

    def hash3d(self) -> HashGridConfig:
        """The spatial 3D hash grid of the ``hash3d`` variant (``hash3d_*`` fields)."""
        return HashGridConfig.from_finest(
            3,
            self.hash3d_finest,
            n_levels=self.hash3d_levels,
            n_features_per_level=self.hash3d_features,
            log2_hashmap_size=self.hash3d_log2,
            base_resolution=self.hash3d_base,
        )

    def landmark_grid(self) -> HashGridConfig:
        """The 3D hash grid of the landmark code (``lm_*`` fields)."""
        return HashGridConfig.from_finest(
            3,
            self.lm_finest,
            n_levels=self.lm_levels,
            n_features_per_level=self.lm_features,
            log2_hashmap_size=self.lm_log2,
            base_resolution=self.lm_base,
        )

    @property
    def uses_landmarks(self) -> bool:
        return VARIANTS[self.variant]["landmarks"]

    @property
    def uses_eye(self) -> bool:
        return VARIANTS[self.variant]["eye"]


class Condition(NamedTuple):
    """One frame's condition, encoded once per batch by :meth:`DynamicLandmarkField.encode`.

    ``audio (audio_code_dim,)``; ``landmarks (68, lm_dim)`` per-landmark codes or None;
    ``eye ()`` AU45 / 5 or None; ``latent (latent_dim,)`` or None.
    """

    audio: torch.Tensor
    landmarks: Optional[torch.Tensor]
    eye: Optional[torch.Tensor]
    latent: Optional[torch.Tensor]


class LandmarkCode(nn.Module):
    """Hash-grid landmark encoding that acts locally (see the module docstring for the equations).

    Args:
        aabb: ``(6,)`` head box (dm); landmarks are encoded by a 3D :class:`HashGrid` over it.
        grid: that grid's :class:`HashGridConfig` (3D); None: the default of :meth:`FieldConfig.landmark_grid`
            (6 levels x 2 features, 2^12 rows, resolution 4 -> 64).
        dim: channels of the code.
        radius: initial influence radius ``r_k`` (dm).
        frozen: landmark indices held at their canonical position (the eyes when AU45 drives them).
    """

    def __init__(
        self,
        aabb,
        grid: Optional[HashGridConfig] = None,
        dim: int = 16,
        radius: float = 0.2,
        frozen: Sequence[int] = (),
    ):
        super().__init__()
        grid = FieldConfig().landmark_grid() if grid is None else grid
        if grid.n_input_dims != 3:
            raise ValueError(
                f"LandmarkCode: the grid encodes 3D landmarks, got n_input_dims={grid.n_input_dims}; "
                "give a HashGridConfig with n_input_dims=3"
            )
        self.grid = HashGrid(grid)
        self.proj = nn.Linear(self.grid.n_output_dims + 3, dim)
        self.log_radius = nn.Parameter(torch.full((68,), math.log(radius)))
        box = torch.as_tensor(aabb, dtype=torch.float32)
        self.register_buffer("box_min", box[:3].clone())
        self.register_buffer("box_size", (box[3:] - box[:3]).clone())
        self.register_buffer("canonical", torch.zeros(68, 3))
        self.register_buffer("scale", torch.ones(()))
        self.register_buffer("frozen", torch.tensor(sorted(frozen), dtype=torch.long))
        self.dim = dim

    @torch.no_grad()
    def fit(self, landmarks: torch.Tensor) -> "LandmarkCode":
        """Canonical landmarks (mean) and displacement scale (RMS) from training landmarks ``(T, 68, 3)``."""
        lm = torch.as_tensor(landmarks, dtype=torch.float32)
        self.canonical.copy_(lm.mean(0))
        self.scale.copy_((lm - self.canonical).pow(2).sum(-1).mean().sqrt().clamp_min(1e-4))
        return self

    def landmark_codes(self, landmarks: torch.Tensor) -> torch.Tensor:
        """Per-landmark codes ``u: (68, dim)`` from the frame's landmarks ``(68, 3)`` (head frame, dm)."""
        if landmarks.shape != (68, 3):
            raise ValueError(f"landmarks must be (68, 3) in the head frame, got {tuple(landmarks.shape)}")
        lm = landmarks.float()
        if self.frozen.numel():
            keep = torch.ones(68, 1, dtype=lm.dtype, device=lm.device)
            keep[self.frozen] = 0.0
            lm = keep * lm + (1.0 - keep) * self.canonical
        g = self.grid((lm - self.box_min) / self.box_size)  # (68, L * F)
        return self.proj(torch.cat([g, (lm - self.canonical) / self.scale], -1))  # (68, dim)

    def weights(self, points: torch.Tensor) -> torch.Tensor:
        """Influence ``exp(-|x - l̄_k|^2 / 2 r_k^2)``: ``(n, 68)`` for points ``(n, 3)``."""
        d2 = torch.cdist(points.float(), self.canonical).pow(2)  # (n, 68)
        return torch.exp(-0.5 * d2 / torch.exp(2.0 * self.log_radius))

    def forward(self, points: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """The local code ``c(x): (n, dim)`` at points ``(n, 3)`` from per-landmark ``codes (68, dim)``."""
        return self.weights(points) @ codes


class DynamicLandmarkField(nn.Module):
    """Tri-plane (or 3D) hash field conditioned on audio, local landmark codes, AU45 and a per-frame latent.

    Call :meth:`fit_normalisers` with the training clip first (audio statistics, canonical landmarks,
    which frames own a latent), then :meth:`encode` a frame's condition once and query points with it.

    Args:
        config: a :class:`FieldConfig`.

    Explained in notebooks/07_two_stage_training.ipynb.
    """

    def __init__(self, config: FieldConfig):
        super().__init__()
        self.config = c = config
        box = torch.as_tensor(c.aabb, dtype=torch.float32)
        self.register_buffer("centre", 0.5 * (box[:3] + box[3:]))
        self.register_buffer("half_size", 0.5 * (box[3:] - box[:3]))
        if VARIANTS[c.variant]["spatial"] == "triplane":
            self.spatial = TriPlane(c.triplane())
        else:
            self.spatial = BoxEncoding(HashGrid(c.hash3d()), bound=1.0)
        n_enc = self.spatial.n_output_dims
        self.audio = AudioEncoder(c.audio_dim, c.audio_window, c.audio_code_dim, smooth=True, seq_len=c.audio_seq_len)
        self.audio_att = mlp(n_enc, 32, c.audio_code_dim, 2)
        n_in = n_enc + c.audio_code_dim
        self.landmark = None
        if c.uses_landmarks:
            self.landmark = LandmarkCode(
                c.aabb, c.landmark_grid(), c.lm_dim, c.lm_radius, frozen=EYE_LANDMARKS if c.uses_eye else ()
            )
            n_in += c.lm_dim
        self.eye_att = mlp(n_enc, 16, 1, 2) if c.uses_eye else None
        n_in += 2 if c.uses_eye else 0
        self.density_net = mlp(n_in, c.hidden, 1 + c.geo_features, c.density_layers)
        self.latents = nn.Embedding(max(1, c.n_frames), c.latent_dim) if c.latent_dim else None
        if self.latents is not None:
            nn.init.zeros_(self.latents.weight)
        self.register_buffer("latent_frames", torch.zeros(max(1, c.n_frames), dtype=torch.bool))
        n_dir = c.sh_degree**2
        self.colour_net = mlp(c.geo_features + n_dir + c.latent_dim, c.hidden, 3, c.colour_layers)

    # ------------------------------------------------------------------ set-up
    @torch.no_grad()
    def fit_normalisers(
        self, features: torch.Tensor, landmarks: torch.Tensor, frames: Optional[torch.Tensor] = None
    ) -> "DynamicLandmarkField":
        """Per-speaker statistics from the training clip.

        Args:
            features: ``(T, W, D)`` audio windows of the training frames.
            landmarks: ``(T, 68, 3)`` their landmarks (head frame).
            frames: ``(T,)`` indices of the training frames (they own a latent code).
        """
        self.audio.norm.fit(as_windows(features))
        if self.landmark is not None:
            self.landmark.fit(landmarks)
        if frames is not None:
            self.latent_frames.zero_()
            self.latent_frames[torch.as_tensor(frames, dtype=torch.long)] = True
        return self

    def parameter_groups(self) -> Dict[str, list]:
        """``{"grids": hash tables, "mlps": everything else}`` (trained at different learning rates)."""
        grids = list(self.spatial.parameters()) + (list(self.landmark.grid.parameters()) if self.landmark else [])
        ids = {id(p) for p in grids}
        return {"grids": grids, "mlps": [p for p in self.parameters() if id(p) not in ids]}

    # ------------------------------------------------------------------ condition
    def encode(
        self,
        audio_windows: torch.Tensor,
        landmarks: Optional[torch.Tensor] = None,
        au45=None,
        frame: Optional[int] = None,
    ) -> Condition:
        """Encode one frame's condition.

        Args:
            audio_windows: ``(audio_seq_len, W, D)`` windows of frames ``i-4 .. i+3`` (see
                :func:`neighbour_windows`).
            landmarks: ``(68, 3)`` head-frame landmarks (required by the DLT variants).
            au45: AU45 on the 0-5 scale, a number or ``()`` tensor (required by the eye variants).
            frame: training-frame index of the latent code; None (or a frame without a code) uses the mean.

        Returns:
            :class:`Condition`.

        Raises:
            ValueError: when the variant needs landmarks or AU45 and they are missing, or shapes are off.
        """
        c = self.config
        w = as_windows(audio_windows)
        if w.shape != (c.audio_seq_len, c.audio_window, c.audio_dim):
            raise ValueError(
                f"audio_windows must be ({c.audio_seq_len}, {c.audio_window}, {c.audio_dim}) for this "
                f"field, got {tuple(w.shape)}; use neighbour_windows(features, frame)"
            )
        audio = self.audio(w.to(self.centre.device))[c.audio_seq_len // 2]  # (audio_code_dim,) sees i-4 .. i+3
        lm = None
        if self.landmark is not None:
            if landmarks is None:
                raise ValueError(f"variant {c.variant!r} is driven by landmarks: pass landmarks (68, 3)")
            lm = self.landmark.landmark_codes(torch.as_tensor(landmarks, device=self.centre.device))
        eye = None
        if c.uses_eye:
            if au45 is None:
                raise ValueError(f"variant {c.variant!r} has the blink feature: pass au45 (0-5 scale)")
            eye = torch.as_tensor(au45, dtype=torch.float32, device=self.centre.device).clamp(0, AU45_MAX) / AU45_MAX
        return Condition(audio, lm, eye, self.latent(frame))

    def latent(self, frame: Optional[int]) -> Optional[torch.Tensor]:
        """The frame's appearance code ``(latent_dim,)``: its own if it has one, else the training mean."""
        if self.latents is None:
            return None
        if frame is not None and 0 <= int(frame) < self.latent_frames.numel() and bool(self.latent_frames[int(frame)]):
            return self.latents.weight[int(frame)]
        if bool(self.latent_frames.any()):
            return self.latents.weight[self.latent_frames].mean(0)
        return torch.zeros(self.config.latent_dim, device=self.centre.device)

    # ------------------------------------------------------------------ field
    def density_input(self, points: torch.Tensor, cond: Condition) -> torch.Tensor:
        """The density MLP's input ``h: (n, n_in)`` at ``points: (n, 3)`` (see the module docstring)."""
        f = self.spatial((points - self.centre) / self.half_size)  # (n, n_enc), points mapped to [-1, 1]^3
        parts = [f]
        if self.landmark is not None:
            parts.append(self.landmark(points, cond.landmarks))  # (n, lm_dim)
        parts.append(torch.sigmoid(self.audio_att(f)) * cond.audio)  # (n, audio_code_dim) gated audio residual
        if self.eye_att is not None:
            near_eyes = self.landmark.weights(points)[:, list(EYE_LANDMARKS)].sum(-1, keepdim=True)  # (n, 1)
            parts.append(torch.cat([torch.relu(self.eye_att(f)), near_eyes], -1) * cond.eye)  # (n, 2)
        return torch.cat(parts, -1)

    def _hidden(self, points: torch.Tensor, cond: Condition) -> torch.Tensor:
        return self.density_net(self.density_input(points, cond))  # (n, 1 + geo_features)

    def density(self, points: torch.Tensor, cond: Condition) -> torch.Tensor:
        """``sigmas: (n,)`` (1/dm) at ``points: (n, 3)`` (head frame, dm)."""
        return trunc_exp(self._hidden(points, cond)[:, 0])

    def forward(self, points: torch.Tensor, rays_d: torch.Tensor, cond: Condition):
        """Density and colour.

        Args:
            points: ``(n, 3)`` head-frame positions (dm).
            rays_d: ``(n, 3)`` unit view directions (of each point's ray).
            cond: the frame's :class:`Condition`.

        Returns:
            ``sigmas (n,)``, ``rgbs (n, 3)`` in [0, 1].
        """
        h = self._hidden(points, cond)
        parts = [h[:, 1:]]
        if self.config.sh_degree:
            parts.append(sh_encode(rays_d, self.config.sh_degree))
        if cond.latent is not None:
            parts.append(cond.latent.expand(points.shape[0], -1))
        return trunc_exp(h[:, 0]), torch.sigmoid(self.colour_net(torch.cat(parts, -1)))


def neighbour_windows(features: torch.Tensor, frame: int, seq_len: int = 8) -> torch.Tensor:
    """The ``seq_len`` feature windows around ``frame`` (``i - seq_len//2 .. i + seq_len//2 - 1``, clamped).

    Args:
        features: ``(T, W, D)`` per-frame windows of a clip.
        frame: frame index.

    Returns:
        ``(seq_len, W, D)``, as :meth:`DynamicLandmarkField.encode` takes them.
    """
    T = features.shape[0]
    idx = (torch.arange(seq_len) - seq_len // 2 + int(frame)).clamp(0, T - 1)
    return features[idx]


__all__ = [
    "AU45_MAX",
    "Condition",
    "DynamicLandmarkField",
    "EYE_LANDMARKS",
    "FieldConfig",
    "LandmarkCode",
    "PAPER_NAMES",
    "VARIANTS",
    "neighbour_windows",
]
