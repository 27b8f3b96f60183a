"""A loaded speaker dataset and its samplers: rays per frame, patches and region crops (torch tensors).

Training a talking-head NeRF conditions every ray on its frame (audio window,
blink, pose), so a batch is drawn from *one* frame: :meth:`SpeakerDataset.sample_rays`
picks a frame of the split and ``n`` of its pixels (optionally a share of them
inside the face rectangle, as AD-NeRF draws 95 % of rays on the face), and
returns rays built with :func:`talkface_lite.rendering.pixel_rays` (OpenCV
camera, pixel centres at ``+0.5``). The fine (lips) stage of ER-NeRF uses
square patches inside the mouth rectangle and the full lip rectangle padded to
at least 32 px: :meth:`sample_patch` and :meth:`region_crop`.

Explained in notebooks/07_two_stage_training.ipynb.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np
import torch

from .. import audio as _audio
from . import masks as _masks


class SpeakerDataset:
    """A validated dataset folder (use :func:`talkface_lite.data.dataset.load_dataset`).

    Attributes:
        root: the folder; meta: its ``meta.json``.
        height, width, n_frames, fps: image size, length and frame rate.
        intrinsics: ``(3, 3)`` float32 tensor.
        poses: ``(T, 4, 4)``; landmarks: ``(T, 68, 3)``; landmarks2d: ``(T, 68, 2)``; au45: ``(T,)``: tensors.
        train_idx, val_idx: ``(n,)`` int64 frame indices of each split.
    """

    def __init__(self, root: Path, meta: dict, cache: Union[bool, str] = "auto"):
        self.root = Path(root)
        self.meta = meta
        self.height, self.width = int(meta["height"]), int(meta["width"])
        self.n_frames, self.fps = int(meta["n_frames"]), float(meta["fps"])
        self.near, self.far = float(meta["near"]), float(meta["far"])
        self.intrinsics = torch.tensor(meta["intrinsics"], dtype=torch.float32)
        self.poses = torch.from_numpy(np.load(self.root / "poses.npy"))
        self.landmarks = torch.from_numpy(np.load(self.root / "landmarks.npy"))
        self.landmarks2d = torch.from_numpy(np.load(self.root / "landmarks2d.npy"))
        self.au45 = torch.from_numpy(np.load(self.root / "au45.npy"))
        tr, va = meta["splits"]["train"], meta["splits"]["val"]
        self.train_idx = torch.arange(tr[0], tr[1])
        self.val_idx = torch.arange(va[0], va[1])
        nbytes = self.n_frames * self.height * self.width * 3
        self._cache_all = bool(cache) if cache != "auto" else nbytes <= (1 << 30)
        self._frames: Dict[int, np.ndarray] = {}

    # ------------------------------------------------------------------ arrays
    def __len__(self) -> int:
        return self.n_frames

    def __repr__(self) -> str:
        return (
            f"SpeakerDataset({self.root.name}: {self.n_frames} frames {self.height}x{self.width} @ {self.fps:g} fps, "
            f"train {len(self.train_idx)} / val {len(self.val_idx)}, features {list(self.meta['features'])})"
        )

    def split(self, name: str) -> torch.Tensor:
        """Frame indices ``(n,)`` of ``"train"``, ``"val"`` or ``"all"``."""
        if name == "train":
            return self.train_idx
        if name == "val":
            return self.val_idx
        if name == "all":
            return torch.arange(self.n_frames)
        raise ValueError(f"unknown split {name!r}: use 'train', 'val' or 'all'")

    def _check_index(self, i: int) -> int:
        i = int(i)
        if not 0 <= i < self.n_frames:
            raise IndexError(f"frame {i} out of range: the dataset has {self.n_frames} frames")
        return i

    def _png(self, sub: str, i: int) -> np.ndarray:
        from PIL import Image

        with Image.open(self.root / sub / f"{i:06d}.png") as img:
            return np.asarray(img)

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as ``(H, W, 3)`` uint8 (cached when the dataset fits in memory)."""
        i = self._check_index(i)
        if i in self._frames:
            return self._frames[i]
        img = self._png("frames", i)
        if self._cache_all:
            self._frames[i] = img
        return img

    def image(self, i: int) -> torch.Tensor:
        """Frame ``i`` as a float tensor ``(H, W, 3)`` in [0, 1]."""
        return torch.from_numpy(self.frame(i).astype(np.float32) / 255.0)

    def mask(self, i: int, region: str = "face") -> torch.Tensor:
        """Boolean ``(H, W)`` region of frame ``i``: face, mouth, eyes, head or background."""
        return torch.from_numpy(_masks.decode(self._png("masks", self._check_index(i)), region))

    @functools.cached_property
    def background(self) -> torch.Tensor:
        """``(H, W, 3)`` float plate in [0, 1]."""
        from PIL import Image

        with Image.open(self.root / "background.png") as img:
            return torch.from_numpy(np.asarray(img.convert("RGB"), np.float32) / 255.0)

    @functools.lru_cache(maxsize=8)
    def features(self, kind: str = "mel") -> torch.Tensor:
        """Per-frame audio windows ``(T, 16, D)`` of a stored kind."""
        if kind not in self.meta["features"]:
            raise KeyError(
                f"feature kind {kind!r} not in this dataset (has {list(self.meta['features'])}); "
                f"re-create it with features=({kind!r},) or use one it has"
            )
        return torch.from_numpy(np.load(self.root / f"audio_{kind}.npy"))

    def audio(self) -> np.ndarray:
        """The clip's ``(N,)`` float32 16 kHz audio."""
        return _audio.load_audio(self.root / "audio.wav")

    def rect(self, i: int, region: str = "mouth", min_size: int = 0):
        """``(x0, y0, x1, y1)`` rectangle of a region in frame ``i`` (x1, y1 exclusive)."""
        return _masks.region_rect(
            self.landmarks2d[self._check_index(i)].numpy(), region, (self.height, self.width), min_size=min_size
        )

    # ------------------------------------------------------------------ samplers
    def _pick_frame(self, split: str, frame: Optional[int], generator) -> int:
        if frame is not None:
            return self._check_index(frame)
        idx = self.split(split)
        if len(idx) == 0:
            raise ValueError(f"split {split!r} is empty (val_fraction=0 when the dataset was written?)")
        return int(idx[torch.randint(len(idx), (1,), generator=generator)])

    def _pack(self, i: int, xy: torch.Tensor, audio_kind: Optional[str]) -> dict:
        """Rays and targets for integer pixel coordinates ``xy: (n, 2)`` of frame ``i``."""
        from ..rendering import pixel_rays

        img = self.image(i)
        rays_o, rays_d = pixel_rays(self.intrinsics, self.poses[i], xy.to(torch.float32) + 0.5)  # (n, 3) each
        out = {
            "frame": i,
            "xy": xy,
            "rgb": img[xy[:, 1], xy[:, 0]],
            "rays_o": rays_o,
            "rays_d": rays_d,
            "pose": self.poses[i],
            "au45": self.au45[i],
            "landmarks": self.landmarks[i],
            "background": self.background[xy[:, 1], xy[:, 0]],
        }
        if audio_kind is not None:
            out["audio"] = self.features(audio_kind)[i]  # (16, D)
        return out

    def sample_rays(
        self,
        n: int,
        split: str = "train",
        frame: Optional[int] = None,
        face_fraction: float = 0.0,
        audio_kind: Optional[str] = "mel",
        generator: Optional[torch.Generator] = None,
        regions: Optional[Dict[str, float]] = None,
    ) -> dict:
        """``n`` random rays of one frame.

        Args:
            n: rays in the batch.
            split: where to pick the frame when ``frame`` is None.
            frame: a fixed frame index.
            face_fraction: share of rays drawn inside the face rectangle (the rest anywhere).
            regions: shares of rays drawn inside other region rectangles, e.g. ``{"mouth": 0.2,
                "eyes": 0.1}`` (the talking-head trainer weights the mouth and eyes this way); the
                shares of ``face_fraction`` and ``regions`` must add up to at most 1.
            audio_kind: stored feature kind to attach as ``audio`` (None: none).
            generator: torch generator (default: the global one seeded by ``repro``).

        Returns:
            dict with ``frame`` (int), ``xy (n, 2)`` int64 pixels, ``rgb (n, 3)``,
            ``rays_o (n, 3)``, ``rays_d (n, 3)``, ``background (n, 3)``, ``pose (4, 4)``,
            ``au45 ()``, ``landmarks (68, 3)``, ``audio (16, D)``.

        Explained in notebooks/07_two_stage_training.ipynb.
        """
        if n <= 0:
            raise ValueError(f"n must be positive, got {n}")
        if not 0.0 <= face_fraction <= 1.0:
            raise ValueError(f"face_fraction must be in [0, 1], got {face_fraction}")
        shares = {"face": face_fraction, **(regions or {})}
        if any(not 0.0 <= v <= 1.0 for v in shares.values()) or sum(shares.values()) > 1.0 + 1e-9:
            raise ValueError(f"region shares must each be in [0, 1] and add up to at most 1, got {shares}")
        i = self._pick_frame(split, frame, generator)
        counts = {name: int(round(n * share)) for name, share in shares.items() if share > 0}
        n_any = n - sum(counts.values())
        if n_any < 0:  # rounding pushed the total past n: take the surplus from the largest share
            counts[max(counts, key=counts.get)] += n_any
            n_any = 0
        x = torch.randint(self.width, (n_any,), generator=generator)
        y = torch.randint(self.height, (n_any,), generator=generator)
        for name, k in counts.items():
            if k:
                x0, y0, x1, y1 = self.rect(i, name)
                x = torch.cat([x, torch.randint(x0, x1, (k,), generator=generator)])
                y = torch.cat([y, torch.randint(y0, y1, (k,), generator=generator)])
        return self._pack(i, torch.stack([x, y], -1), audio_kind)

    def sample_patch(
        self,
        size: int = 32,
        region: Optional[str] = "mouth",
        split: str = "train",
        frame: Optional[int] = None,
        audio_kind: Optional[str] = "mel",
        generator: Optional[torch.Generator] = None,
    ) -> dict:
        """A ``size x size`` patch whose top-left corner is uniform over positions inside a region rectangle.

        When the rectangle is smaller than the patch, the patch is centred on it
        (clipped to the image). ``region=None`` samples anywhere in the image.

        Returns:
            as :meth:`sample_rays`, with ``n = size * size`` rays in row-major
            order (reshape ``rgb`` to ``(size, size, 3)``) and ``rect``.

        Explained in notebooks/07_two_stage_training.ipynb.
        """
        if not 0 < size <= min(self.height, self.width):
            raise ValueError(f"patch size {size} does not fit a {self.height}x{self.width} image")
        i = self._pick_frame(split, frame, generator)
        x0, y0, x1, y1 = (0, 0, self.width, self.height) if region is None else self.rect(i, region)

        def corner(lo, hi, limit):
            if hi - lo >= size:
                return int(torch.randint(lo, hi - size + 1, (1,), generator=generator))
            return int(np.clip((lo + hi) // 2 - size // 2, 0, limit - size))

        cx, cy = corner(x0, x1, self.width), corner(y0, y1, self.height)
        ys, xs = torch.meshgrid(torch.arange(cy, cy + size), torch.arange(cx, cx + size), indexing="ij")
        out = self._pack(i, torch.stack([xs.reshape(-1), ys.reshape(-1)], -1), audio_kind)
        out["rect"] = (cx, cy, cx + size, cy + size)
        return out

    def region_crop(self, i: int, region: str = "mouth", min_size: int = 32, audio_kind: Optional[str] = "mel") -> dict:
        """All rays of a region's rectangle in frame ``i`` (ER-NeRF's lip rectangle, padded to ``min_size``).

        Returns:
            as :meth:`sample_rays` (row-major over the rectangle), plus ``rect`` and ``shape (h, w)``.
        """
        x0, y0, x1, y1 = self.rect(i, region, min_size=min_size)
        ys, xs = torch.meshgrid(torch.arange(y0, y1), torch.arange(x0, x1), indexing="ij")
        out = self._pack(self._check_index(i), torch.stack([xs.reshape(-1), ys.reshape(-1)], -1), audio_kind)
        out.update(rect=(x0, y0, x1, y1), shape=(y1 - y0, x1 - x0))
        return out

    def __getitem__(self, i: int) -> dict:
        """Everything about frame ``i``: ``image (H, W, 3)``, pose, landmarks, au45, audio windows."""
        i = self._check_index(i)
        item = {
            "frame": i,
            "image": self.image(i),
            "pose": self.poses[i],
            "landmarks": self.landmarks[i],
            "landmarks2d": self.landmarks2d[i],
            "au45": self.au45[i],
        }
        for kind in self.meta["features"]:
            item[f"audio_{kind}"] = self.features(kind)[i]
        return item


__all__ = ["SpeakerDataset"]
