"""LPIPS perceptual distance without torchvision: LPIPS(alex, v0.1) or ST-LPIPS(alex).

Which network :func:`load_lpips` builds:

* ``"LPIPS (alex, v0.1)"``: Zhang et al., *The Unreasonable Effectiveness of
  Deep Features as a Perceptual Metric*, CVPR 2018 (PyPI ``lpips`` 0.1.4).
  Needs torchvision's ImageNet AlexNet (``alexnet-owt-7be5be79.pth``, found by
  :func:`talkface_lite.weights.find_weights`) plus the linear layers shipped in
  ``lpips/weights/v0.1/alex.pth``.
* ``"ST-LPIPS (alex)"``: Ghildyal & Liu, *Shift-tolerant Perceptual Similarity
  Metric*, ECCV 2022 (PyPI ``stlpips-pytorch`` 0.0.2, ``variant="shift_tolerant"``),
  whose wheel ships the whole network (``weights/vST0.0/alex_shift_tolerant.pth``).
  Used when the AlexNet weights are absent, as on an offline machine.

Both packages import torchvision at module level, which does not import on a
CPU build of torch, so tools/bootstrap.py installs them with ``--no-deps`` and
this module never imports them: the networks are rebuilt here and only their
weight files are read (``torch.load(weights_only=True)``). The two distances
are on different scales; record :attr:`LPIPS.name` next to every value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .weights import env_var, find_weights, hub_checkpoints_dir

LPIPS_NAME = "LPIPS (alex, v0.1)"
STLPIPS_NAME = "ST-LPIPS (alex)"
KINDS = ("auto", "lpips", "stlpips")
CHANNELS = (64, 192, 384, 256, 256)  # relu1..relu5 of AlexNet
# Smallest H and W each network accepts (below it a pooling window or a reflect pad exceeds its input):
#   lpips:   conv1 (k11, s4, p2) -> floor((H - 7) / 4) + 1 must be >= 7 for both 3x3/s2 max-pools -> H >= 31;
#   stlpips: conv1 (k11, s1, p2) -> H - 6, then blur-pool / 3x3/s1 max-pool / blur-pool / max-pool / blur-pool
#            (reflect pad 2 needs >= 3 pixels) -> H >= 21.
MIN_SIZE = {"lpips": 31, "stlpips": 21}
_SHIFT = (-0.030, -0.088, -0.188)  # lpips' ScalingLayer: (x - shift) / scale, x in [-1, 1]
_SCALE = (0.458, 0.448, 0.450)


class BlurPool(nn.Module):
    """Anti-aliased stride-2 downsampling (Zhang, *Making Convolutional Networks
    Shift-Invariant Again*, ICML 2019): reflect-pad by 2, blur each channel with
    the 3x3 binomial filter ``[1, 2, 1]^T [1, 2, 1] / 16``, keep every second pixel.

    Same as stlpips' ``Downsample(filt_size=3, stride=2, pad_more=True)``; the
    filter is a buffer called ``filt`` so its state-dict keys load.
    ``(N, C, H, W) -> (N, C, floor((H + 1) / 2) + 1, floor((W + 1) / 2) + 1)``.
    """

    def __init__(self, channels: int):
        super().__init__()
        a = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("filt", (a[:, None] * a[None, :] / 16).expand(channels, 1, 3, 3).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), self.filt, stride=2, groups=x.shape[1])


def alexnet_features() -> nn.Sequential:
    """torchvision's ``alexnet().features`` up to relu5: same indices, so ``features.N.*`` keys load."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2),
        nn.ReLU(),  # 0-1   relu1
        nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2),
        nn.ReLU(),  # 2-4   relu2
        nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1),
        nn.ReLU(),  # 5-7   relu3
        nn.Conv2d(384, 256, 3, padding=1),
        nn.ReLU(),  # 8-9   relu4
        nn.Conv2d(256, 256, 3, padding=1),
        nn.ReLU(),
    )  # 10-11 relu5


def shift_tolerant_alexnet_features() -> nn.Sequential:
    """ST-LPIPS's AlexNet (stlpips ``invariant_networks.alexnet(variant="shift_tolerant")``, slices flattened).

    Differs from AlexNet: conv1 has stride 1 and is followed by a blur-pool
    (before the ReLU); each 3x3/s2 max-pool becomes a 3x3/s1 max-pool followed by
    a blur-pool. Index ``N`` here is index ``N`` in the package's ``net.sliceK.N.*`` keys.
    """
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=1, padding=2),
        BlurPool(64),
        nn.ReLU(),  # 0-2   relu1
        nn.MaxPool2d(3, 1),
        BlurPool(64),
        nn.Conv2d(64, 192, 5, padding=2),
        nn.ReLU(),  # 3-6   relu2
        nn.MaxPool2d(3, 1),
        BlurPool(192),
        nn.Conv2d(192, 384, 3, padding=1),
        nn.ReLU(),  # 7-10  relu3
        nn.Conv2d(384, 256, 3, padding=1),
        nn.ReLU(),  # 11-12 relu4
        nn.Conv2d(256, 256, 3, padding=1),
        nn.ReLU(),
    )  # 13-14 relu5


class LPIPS(nn.Module):
    """LPIPS network: AlexNet features at relu1..relu5, unit-normalised over
    channels, squared differences weighted by a learnt 1x1 conv (the "linear
    layers"), averaged over space and summed over the five layers.

    Parameters are frozen and the module stays in eval mode (``train()`` is a
    no-op), so it can sit inside a model as a loss. Build it with
    :func:`load_lpips`; constructed directly it has random weights.

    Args:
        shift_tolerant: ST-LPIPS's anti-aliased AlexNet instead of torchvision's.

    Attributes:
        name: ``"LPIPS (alex, v0.1)"`` or ``"ST-LPIPS (alex)"``: what produced a value.
        min_size: smallest H and W accepted (31 for LPIPS, 21 for ST-LPIPS).
        weights: the files the weights were read from (set by :func:`load_lpips`).
    """

    def __init__(self, shift_tolerant: bool = False):
        super().__init__()
        kind = "stlpips" if shift_tolerant else "lpips"
        self.name = STLPIPS_NAME if shift_tolerant else LPIPS_NAME
        self.min_size = MIN_SIZE[kind]
        self.weights: Tuple[str, ...] = ()
        self.features = shift_tolerant_alexnet_features() if shift_tolerant else alexnet_features()
        self.taps = (2, 6, 10, 12, 14) if shift_tolerant else (1, 4, 7, 9, 11)  # relu1..relu5
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "LPIPS":
        return super().train(False)

    def extract(self, x: torch.Tensor) -> list:
        """``(N, 3, H, W)`` in [0, 1] -> the five relu feature maps, unit-normalised over channels."""
        h = (2 * x - 1 - self.shift) / self.scale  # [0, 1] -> [-1, 1] -> lpips' ScalingLayer
        out = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self.taps:
                # lpips' normalize_tensor; vector_norm's gradient stays finite where sqrt's is NaN (a zero vector)
                out.append(h / (torch.linalg.vector_norm(h, dim=1, keepdim=True) + 1e-10))
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Perceptual distance between two image batches (differentiable w.r.t. both).

        Args:
            x: ``(N, 3, H, W)`` float images in [0, 1] (lpips' ``normalize=True``), H, W >= :attr:`min_size`.
            y: same shape as ``x``.

        Returns:
            ``(N,)`` distances, 0 for identical images.

        Raises:
            ValueError: for shapes other than two equal ``(N, 3, H, W)``, or H or W
                below :attr:`min_size`. Smaller patches (e.g. 16 px mouth crops)
                must be upsampled by the caller, e.g.
                ``F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)``:
                this module never resizes silently.
        """
        if x.shape != y.shape or x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(
                f"{self.name} expects two (N, 3, H, W) images of the same shape, "
                f"got {tuple(x.shape)} and {tuple(y.shape)}"
            )
        if min(x.shape[-2:]) < self.min_size:
            raise ValueError(
                f"{self.name} needs H, W >= {self.min_size}, got {x.shape[-2]}x{x.shape[-1]}: "
                f"upsample the patches first (e.g. F.interpolate(x, size=(32, 32), mode='bilinear'))"
            )
        d = x.new_zeros(x.shape[0], 1)
        for lin, fx, fy in zip(self.lins, self.extract(x), self.extract(y)):
            d = d + lin((fx - fy) ** 2).mean(dim=(2, 3))  # (N, C_l, h, w) -> (N, 1, h, w) -> (N, 1)
        return d[:, 0]


def resolve_lpips(kind: str = "auto", alexnet_weights: Optional[os.PathLike] = None) -> Tuple[str, Tuple[Path, ...]]:
    """Which network ``kind`` gives here, and its weight files, without loading anything.

    Returns:
        ``("lpips", (alexnet, linear))`` or ``("stlpips", (full,))``.

    Raises:
        ValueError: for an unknown ``kind``.
        FileNotFoundError: one line saying what is missing and how to get it.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind in ("auto", "lpips"):
        alex = find_weights("alexnet_torchvision", alexnet_weights)
        lin = find_weights("lpips_alex_linear")
        if alex and lin:
            return "lpips", (alex, lin)
        if kind == "lpips":
            missing = []
            if not alex:
                missing.append(
                    f"torchvision's AlexNet weights (alexnet-owt-7be5be79.pth in {hub_checkpoints_dir()}, "
                    f"or set {env_var('alexnet_torchvision')}=/path/to/it, or pass alexnet_weights=)"
                )
            if not lin:
                missing.append("lpips' linear layers (pip install --no-deps lpips==0.1.4)")
            raise FileNotFoundError(f"{LPIPS_NAME} needs {' and '.join(missing)}; or use kind='stlpips'")
    full = find_weights("stlpips_alex")
    if full:
        return "stlpips", (full,)
    raise FileNotFoundError(
        f"{STLPIPS_NAME} weights not found: pip install --no-deps stlpips-pytorch==0.0.2"
        + (
            f" (or provide AlexNet weights for {LPIPS_NAME}: set {env_var('alexnet_torchvision')}=...)"
            if kind == "auto"
            else ""
        )
    )


def _read(path: Path) -> Dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def _linear_layers(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {f"lins.{k}.weight": state[f"lin{k}.model.1.weight"] for k in range(len(CHANNELS))}


def build_lpips(kind: str, files: Sequence[Path]) -> LPIPS:
    """An :class:`LPIPS` with weights read from ``files`` as :func:`resolve_lpips` returns them.

    Raises:
        ValueError: when the AlexNet file lacks torchvision's ``features.N.weight`` keys.
    """
    net = LPIPS(shift_tolerant=kind == "stlpips")
    state = {"shift": net.shift, "scale": net.scale}
    if kind == "lpips":
        alex, linear = _read(files[0]), _read(files[1])
        if "features.0.weight" not in alex:
            raise ValueError(f"{files[0]} is not a torchvision AlexNet state dict (no 'features.0.weight')")
        state.update({k: v for k, v in alex.items() if k.startswith("features.")})  # drop classifier.*
        state.update(_linear_layers(linear))
    else:
        full = _read(files[0])  # net.sliceK.N.* -> features.N.*, plus its own scaling layer
        state.update({"features." + k.split(".", 2)[2]: v for k, v in full.items() if k.startswith("net.")})
        state.update(_linear_layers(full), shift=full["scaling_layer.shift"], scale=full["scaling_layer.scale"])
    net.load_state_dict(state, strict=True)
    net.weights = tuple(str(f) for f in files)
    return net


_CACHE: Dict[tuple, LPIPS] = {}


def load_lpips(
    kind: str = "auto", alexnet_weights: Optional[os.PathLike] = None, device: torch.device | str = "cpu"
) -> LPIPS:
    """The perceptual network, loaded once per (kind, weight files, device) and cached.

    Args:
        kind: ``"auto"``: LPIPS(alex, v0.1) when torchvision's AlexNet weights
            are found, else ST-LPIPS(alex); ``"lpips"`` or ``"stlpips"`` force one.
        alexnet_weights: path of ``alexnet-owt-7be5be79.pth`` (torchvision
            ``features.N.*`` keys); otherwise looked up by
            :func:`talkface_lite.weights.find_weights` (env var
            ``TALKFACE_WEIGHTS_ALEXNET_TORCHVISION``, the torch hub cache).
            Unused for ``kind="stlpips"``.
        device: where the network lives.

    Returns:
        A frozen :class:`LPIPS` in eval mode; ``.name`` says which network it is.
        The cached module is shared: do not modify it.

    Raises:
        ValueError: for an unknown ``kind``.
        FileNotFoundError: when the weights ``kind`` needs are missing (one line: what, and how to get it).
    """
    kind, files = resolve_lpips(kind, alexnet_weights)
    key = (kind, tuple(str(f) for f in files), str(torch.device(device)))
    if key not in _CACHE:
        _CACHE[key] = build_lpips(kind, files).to(device)
    return _CACHE[key]
