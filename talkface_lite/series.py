"""The notebook series: one source of truth for the README, notebook 00 and the tests.

Explained in notebooks/00_setup_and_tour.ipynb.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple


@dataclasses.dataclass(frozen=True)
class Notebook:
    number: int
    stem: str
    teaches: str
    regenerates: str
    paper: str

    @property
    def filename(self) -> str:
        return f"{self.stem}.ipynb"


SERIES: Tuple[Notebook, ...] = (
    Notebook(
        0,
        "00_setup_and_tour",
        "environment check, backends, the synthetic speaker",
        "sample frames, landmarks and audio of the synthetic speaker",
        "—",
    ),
    Notebook(
        1, "01_volume_rendering", "rays, sampling, compositing and its gradients", "rendering illustrations", "Eq. 1–3"
    ),
    Notebook(
        2,
        "02_hash_encoding",
        "multiresolution hashing, collisions, backend speed",
        "hash-grid figures, encoding benchmark table",
        "Instant-NGP",
    ),
    Notebook(3, "03_triplane_nerf", "tri-plane hash vs 3D hash grid, a static head fit", "tri-plane figure", "Eq. 4–5"),
    Notebook(4, "04_audio_features", "waveform -> features -> windows -> smoothing", "audio feature figure", "§III-B"),
    Notebook(
        5,
        "05_landmark_transformer",
        "audio VAE + Dynamic Landmark Transformer",
        "landmark prediction figure, LMD table",
        "Eq. 6–7",
    ),
    Notebook(6, "06_blink_prediction", "AU45, eye aspect ratio, eye-movement prediction", "blink figure", "§III-C"),
    Notebook(
        7, "07_two_stage_training", "coarse MSE, fine mouth MSE + LPIPS", "training curves, Fig. 3 analogue", "Eq. 8–9"
    ),
    Notebook(
        8, "08_evaluation_tables", "PSNR / LPIPS / LMD / FID / Sync and the ablation", "Tables I–III analogues", "§IV"
    ),
    Notebook(9, "09_drive_with_new_audio", "any wav -> landmarks -> blinks -> video with sound", "demo video", "—"),
)


def by_stem(stem: str) -> Notebook:
    for nb in SERIES:
        if nb.stem == stem:
            return nb
    raise KeyError(f"{stem!r} is not in the series; known: {', '.join(n.stem for n in SERIES)}")
