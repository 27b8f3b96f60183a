"""One config object for a talking-head run, with QUICK and FULL presets (nanoGPT's GPTConfig idea).

A run saves it whole as ``config.json``; every value a run used is there.

Explained in notebooks/07_two_stage_training.ipynb.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Dict, Optional

from ..models.field import FieldConfig

LANDMARK_SOURCES = ("gt", "dlt")


@dataclasses.dataclass
class TrainConfig:
    """Settings of the two-stage (coarse MSE, then fine mouth MSE + LPIPS) training of the field.

    Attributes (units: rays and steps; learning rates for Adam):
        field: the :class:`~talkface_lite.models.field.FieldConfig` (variant, sizes).
        audio_kind: stored feature kind of the dataset to condition on (``mel``, ``deepspeech``, ...).
        landmarks: ``"gt"`` feeds the dataset's landmarks to the field; ``"dlt"`` feeds the predictions
            of the Dynamic Landmark Transformer (the field then never sees ground-truth landmarks).
        dlt_steps: steps of the Dynamic Landmark Transformer, fitted on the training split at the start of
            every run (on its own seed) and kept in the checkpoint: it drives the head with new audio.
        coarse_steps, fine_steps: steps of each stage (Eq. 8, then Eq. 9).
        n_rays: rays per coarse step, all from one frame.
        face_fraction, mouth_fraction, eye_fraction: shares of those rays drawn inside the face,
            mouth and eye rectangles (AD-NeRF draws most rays on the face).
        blink_frame_fraction: chance that a coarse step's frame is taken among frames with AU45 > 1
            (blinks are rare: about 7 % of frames).
        n_samples: marching steps per box diagonal (step size = diagonal / n_samples).
        grid_resolution, grid_update_every: occupancy grid cells per axis and update period.
        lr_grids, lr_mlps: learning rates of hash tables and of everything else (ER-NeRF: 1e-2 / 1e-3),
            decayed exponentially to ``lr_final`` times over the whole run.
        latent_l2: weight of the per-frame latent's squared norm.
        patch_size, patches: fine stage: square patches per step inside the mouth rectangle.
        lpips_weight: lambda of Eq. 9 (paper: 0.001).
        lpips_kind: ``"auto"`` (true LPIPS when AlexNet weights are found, else ST-LPIPS), ``"lpips"``, ``"stlpips"``.
        ckpt_every: steps between checkpoints (one is always written at the end of each stage).
        seed: seeds the run's generator and the global RNGs.
        amp: mixed precision on CUDA.
    """

    field: FieldConfig = dataclasses.field(default_factory=FieldConfig)
    audio_kind: str = "mel"
    landmarks: str = "gt"
    dlt_steps: int = 300
    coarse_steps: int = 2000
    fine_steps: int = 500
    n_rays: int = 1024
    face_fraction: float = 0.5
    mouth_fraction: float = 0.2
    eye_fraction: float = 0.15
    blink_frame_fraction: float = 0.25
    n_samples: int = 64
    grid_resolution: int = 64
    grid_update_every: int = 16
    lr_grids: float = 1e-2
    lr_mlps: float = 1e-3
    lr_final: float = 0.1
    latent_l2: float = 1e-3
    patch_size: int = 24
    patches: int = 2
    lpips_weight: float = 0.001
    lpips_kind: str = "auto"
    ckpt_every: int = 200
    seed: int = 0
    amp: bool = True

    def __post_init__(self):
        if isinstance(self.field, dict):
            self.field = FieldConfig(**self.field)
        if self.landmarks not in LANDMARK_SOURCES:
            raise ValueError(f"landmarks must be one of {LANDMARK_SOURCES}, got {self.landmarks!r}")
        for name in ("coarse_steps", "fine_steps", "dlt_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.n_rays < 1 or self.patch_size < 4 or self.patches < 1:
            raise ValueError("n_rays >= 1, patch_size >= 4 and patches >= 1 are needed")
        shares = self.face_fraction + self.mouth_fraction + self.eye_fraction
        if shares > 1.0 + 1e-9:
            raise ValueError(f"face + mouth + eye fractions add up to {shares:.2f} > 1")

    @property
    def total_steps(self) -> int:
        return self.coarse_steps + self.fine_steps

    def stage_of(self, step: int) -> str:
        return "coarse" if step < self.coarse_steps else "fine"

    # -- presets
    @classmethod
    def quick(cls, **overrides) -> "TrainConfig":
        """CPU minutes on the synthetic speaker at 128x128 (smaller grids and MLP inputs, 48^3 occupancy)."""
        field = dict(
            tri_levels=8,
            tri_log2=13,
            tri_base=16,
            tri_finest=256,
            hash3d_levels=8,
            hash3d_log2=13,
            hash3d_finest=256,
            sh_degree=2,
            **overrides.pop("field", {}),
        )
        base = dict(
            coarse_steps=2500,
            fine_steps=300,
            n_rays=768,
            n_samples=48,
            grid_resolution=48,
            dlt_steps=300,
            patch_size=24,
            patches=1,
            ckpt_every=200,
            field=field,
        )
        base.update(overrides)
        return cls(**base)

    @classmethod
    def full(cls, **overrides) -> "TrainConfig":
        """Paper scale on one GPU (ER-NeRF sizes; 128^3 occupancy grid; 4096 rays per step)."""
        base = dict(
            coarse_steps=60000,
            fine_steps=20000,
            n_rays=4096,
            n_samples=128,
            grid_resolution=128,
            dlt_steps=3000,
            patch_size=32,
            patches=2,
            ckpt_every=2000,
        )
        base.update(overrides)
        return cls(**base)

    # -- JSON
    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["field"]["aabb"] = list(d["field"]["aabb"])
        return d

    def save(self, path: Path, extra: Optional[dict] = None) -> None:
        from ..repro import atomic_write_text

        atomic_write_text(Path(path), json.dumps({**self.to_dict(), **(extra or {})}, indent=2) + "\n")

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def differences(
        self, other: "TrainConfig", ignore=("coarse_steps", "fine_steps", "ckpt_every")
    ) -> Dict[str, tuple]:
        """``{name: (self, other)}`` for settings that differ (nested field settings as ``field.name``)."""
        a, b = _flat(self.to_dict()), _flat(other.to_dict())
        return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if k not in ignore and a.get(k) != b.get(k)}


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


__all__ = ["LANDMARK_SOURCES", "TrainConfig"]
