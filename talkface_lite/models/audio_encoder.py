"""Audio encoder over per-frame feature windows, and the attention time filter.

Every 25 fps video frame owns one window of audio features, ``(W, D)``:
DeepSpeech logits ``(16, 29)``, log-mel ``(16, 80)``, or HuBERT/wav2vec
``(2, 1024)`` / ``(1, 1024)``. :class:`AudioNet` turns one window into a
small code (as ER-NeRF's AudioNet: stride-2 1D convolutions over the window's
time axis, then a fully connected head), and :class:`AudioAttNet` smooths the
codes of neighbouring frames (``i-4 … i+3``, eight frames) with learned
attention weights, the "time filtering module" of AD-NeRF/DFRF/ER-NeRF that
the paper (§III-B) uses to get frame-to-frame consistent features ``A``.

Design decisions (ours):

* Feature arrays of any of the usual shapes are accepted: ``(T, W, D)`` and
  ``(T, D)`` (read as ``W = 1``). The number of stride-2 convolutions is
  ``ceil(log2(W))``, so a 16-step window is reduced 16 -> 8 -> 4 -> 2 -> 1
  exactly as in ER-NeRF, and a 2-step HuBERT window by one convolution.
* Input features are standardised per dimension by :class:`FeatureNorm`,
  whose statistics are fitted on the speaker's training clip and stored as
  buffers, so a checkpoint carries them.
* The attention filter pads the sequence by repeating its first/last frame,
  so every frame (also the first four) sees eight neighbours.

Explained in notebooks/04_audio_features.ipynb.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def as_windows(feats: torch.Tensor) -> torch.Tensor:
    """Bring a per-frame feature array to the window layout ``(..., T, W, D)``.

    Args:
        feats: ``(T, W, D)``, ``(B, T, W, D)`` or ``(T, D)`` (one feature
            vector per frame, e.g. HuBERT ``(T, 1024)``).

    Returns:
        ``(T, W, D)`` or ``(B, T, W, D)`` float tensor.

    Raises:
        ValueError: for any other rank, naming the shape.
    """
    if not torch.is_tensor(feats):
        feats = torch.as_tensor(feats)
    if feats.ndim == 2:
        return feats.float().unsqueeze(1)  # (T, 1, D)
    if feats.ndim in (3, 4):
        return feats.float()
    raise ValueError(
        f"audio features of shape {tuple(feats.shape)} cannot be used: expected (T, W, D) windows "
        "(DeepSpeech (T, 16, 29), HuBERT (T, 2, 1024)) or (T, D) per-frame vectors; "
        "convert with talkface_lite.audio.load_feature_array"
    )


class FeatureNorm(nn.Module):
    """Per-dimension standardisation of audio features, fitted once per speaker.

    Args:
        dim: feature dimension ``D``.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, feats: torch.Tensor) -> "FeatureNorm":
        """Set mean/std from training features ``(..., D)``; returns ``self``.

        A dimension that never varied in training (std below 1e-4: a phone the clip never contains, a
        dead mel band) gets an infinite std, so it reads as 0 afterwards: the model learned nothing
        from it, and dividing an unseen value by a tiny std would feed it numbers in the thousands.
        """
        flat = torch.as_tensor(feats, dtype=torch.float32).reshape(-1, feats.shape[-1])
        if flat.shape[-1] != self.mean.numel():
            raise ValueError(
                f"FeatureNorm was built for D={self.mean.numel()} but got features with D={flat.shape[-1]}"
            )
        self.mean.copy_(flat.mean(0))
        std = flat.std(0)
        self.std.copy_(torch.where(std < 1e-4, torch.full_like(std, float("inf")), std))
        return self

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """``feats: (..., D)`` -> standardised ``(..., D)``."""
        return (feats - self.mean) / self.std


class AudioNet(nn.Module):
    """One window of audio features -> one audio code per frame (ER-NeRF AudioNet layout).

    Args:
        dim_in: feature dimension ``D`` (29 DeepSpeech, 80 log-mel, 1024 HuBERT).
        window: window length ``W`` (16, 2 or 1).
        dim_out: code size (ER-NeRF: 32, AD-NeRF: 64).
        width: channels of the convolutions.
    """

    def __init__(self, dim_in: int, window: int = 16, dim_out: int = 32, width: int = 32):
        super().__init__()
        if dim_in < 1 or window < 1:
            raise ValueError(f"AudioNet needs dim_in >= 1 and window >= 1, got dim_in={dim_in}, window={window}")
        self.dim_in, self.window, self.dim_out = dim_in, window, dim_out
        n_down = math.ceil(math.log2(window)) if window > 1 else 0
        layers, ch = [], dim_in
        for i in range(n_down):
            out = width if i < n_down // 2 or n_down == 1 else 2 * width
            layers += [nn.Conv1d(ch, out, kernel_size=3, stride=2, padding=1), nn.LeakyReLU(0.02)]
            ch = out
        self.convs = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(ch, 2 * width), nn.LeakyReLU(0.02), nn.Linear(2 * width, dim_out))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Encode windows.

        Args:
            windows: ``(..., W, D)`` feature windows (any leading dims).

        Returns:
            ``(..., dim_out)`` codes.
        """
        if windows.shape[-2:] != (self.window, self.dim_in):
            raise ValueError(
                f"AudioNet expects windows (..., {self.window}, {self.dim_in}) but got {tuple(windows.shape)}; "
                "build the model with the window and feature size of your features"
            )
        lead = windows.shape[:-2]
        x = windows.reshape(-1, self.window, self.dim_in).transpose(1, 2)  # (N, D, W)
        x = self.convs(x)  # (N, C, ceil(W / 2^n_down)) = (N, C, 1)
        x = x.mean(-1)  # (N, C)
        return self.head(x).reshape(*lead, self.dim_out)  # (..., dim_out)


def neighbour_frames(codes: torch.Tensor, seq_len: int = 8) -> torch.Tensor:
    """Stack each frame's ``seq_len`` neighbours ``i - seq_len//2 … i + seq_len//2 - 1``.

    The sequence is padded by repeating its first and last frames.

    Args:
        codes: ``(..., T, C)`` per-frame codes.
        seq_len: neighbourhood size (8 in AD-NeRF/ER-NeRF).

    Returns:
        ``(..., T, seq_len, C)``; entry ``[t, k]`` is frame ``clamp(t - seq_len//2 + k, 0, T-1)``.
    """
    T = codes.shape[-2]
    offsets = torch.arange(seq_len, device=codes.device) - seq_len // 2  # (seq_len,)
    idx = (torch.arange(T, device=codes.device)[:, None] + offsets[None]).clamp(0, T - 1)  # (T, seq_len)
    return codes[..., idx, :]  # (..., T, seq_len, C)


class AudioAttNet(nn.Module):
    """Attention time filter: a weighted average of a frame's neighbouring codes.

    A small 1D conv stack reads the ``seq_len`` neighbour codes and scores each
    one; a softmax over the scores gives the weights (AD-NeRF/ER-NeRF
    AudioAttNet layout).

    Args:
        dim: code size ``C``.
        seq_len: neighbourhood size.
    """

    def __init__(self, dim: int = 32, seq_len: int = 8):
        super().__init__()
        self.seq_len = seq_len
        chans = [dim, 16, 8, 4, 2, 1]
        layers = []
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv1d(a, b, kernel_size=3, padding=1), nn.LeakyReLU(0.02)]
        self.score = nn.Sequential(*layers[:-1])
        self.mix = nn.Linear(seq_len, seq_len)

    def weights(self, neighbours: torch.Tensor) -> torch.Tensor:
        """Attention weights ``(N, seq_len)`` (rows sum to 1) for neighbours ``(N, seq_len, C)``."""
        s = self.score(neighbours.transpose(1, 2)).squeeze(1)  # (N, seq_len)
        return torch.softmax(self.mix(s), dim=-1)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """Smooth a code sequence.

        Args:
            codes: ``(T, C)`` or ``(B, T, C)``.

        Returns:
            Smoothed codes of the same shape.
        """
        nb = neighbour_frames(codes, self.seq_len)  # (..., T, seq_len, C)
        flat = nb.reshape(-1, self.seq_len, nb.shape[-1])  # (N, seq_len, C)
        w = self.weights(flat)  # (N, seq_len)
        out = (w.unsqueeze(-1) * flat).sum(1)  # (N, C)
        return out.reshape(codes.shape)


class AudioEncoder(nn.Module):
    """Feature windows -> smoothed per-frame audio codes (norm, AudioNet, AudioAttNet).

    Args:
        dim_in: feature dimension ``D``.
        window: window length ``W``.
        dim_out: code size.
        smooth: apply the attention time filter (AD-NeRF switches it on late in
            training; we train with it from the start).
        seq_len: neighbourhood of the filter.

    Explained in notebooks/04_audio_features.ipynb.
    """

    def __init__(
        self, dim_in: int, window: int = 16, dim_out: int = 32, smooth: bool = True, seq_len: int = 8, width: int = 32
    ):
        super().__init__()
        self.norm = FeatureNorm(dim_in)
        self.net = AudioNet(dim_in, window, dim_out, width)
        self.att = AudioAttNet(dim_out, seq_len) if smooth else None

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """Encode.

        Args:
            feats: ``(T, W, D)``, ``(B, T, W, D)`` or ``(T, D)``.

        Returns:
            ``(T, dim_out)`` or ``(B, T, dim_out)``.
        """
        x = self.net(self.norm(as_windows(feats)))  # (..., T, dim_out)
        return self.att(x) if self.att is not None else x


__all__ = ["AudioAttNet", "AudioEncoder", "AudioNet", "FeatureNorm", "as_windows", "neighbour_frames"]
