"""SyncNet and its lip-sync scores LSE-C / LSE-D, for when ``syncnet_v2`` weights are found.

SyncNet (Chung & Zisserman, *Out of time: automated lip sync in the wild*, ACCV workshops 2016)
embeds 5 frames (0.2 s at 25 fps) of a face crop and the MFCCs of the same 0.2 s of audio into
1024-d vectors that are close when the two are in sync. Wav2Lip's evaluation turned its
offset search into the scores every talking-head paper reports:

* for each 5-frame window ``i`` and audio shift ``k`` in ``-vshift..vshift`` frames, the L2
  distance between the video embedding of window ``i`` and the audio embedding of window
  ``i + k`` (a zero vector past either end of the clip);
* the mean over windows of those distances, per shift: ``mdist (2 vshift + 1,)``;
* **LSE-D** = ``min(mdist)`` (lower is better), **LSE-C** = ``median(mdist) - min(mdist)``
  (higher is better), and the AV offset ``vshift - argmin`` (in frames).

This module rebuilds the network (syncnet_python's ``S``, module names kept so the public
``syncnet_v2.model`` state dict loads as is) and that evaluation, from
github.com/joonson/syncnet_python (MIT): ``SyncNetModel.py``, ``SyncNetInstance.evaluate`` and
``run_pipeline.crop_video``. Inputs as the reference feeds them:

* video: 224x224 face crops, **BGR**, float 0-255 without normalisation, ``(N, 3, 5, 224, 224)``;
* audio: 16 kHz 16-bit samples (float audio is scaled by 32768), 13 MFCCs at 100 Hz exactly as
  ``python_speech_features.mfcc`` computes them with its defaults (:func:`mfcc`), 20 MFCC
  frames per video window (``4 i .. 4 i + 20``), ``(N, 1, 13, 20)``.

Where we differ from the reference pipeline, and say so in every label: the face boxes come from
the caller (:func:`talkface_lite.metrics.lse` uses dlib's HOG detector, not S3FD), cropped with the
reference's geometry (:func:`crop_faces`), and the crops are not written to an XVID video and
JPEGs and read back. The weights are never downloaded: :func:`load_syncnet` reads a file that
:func:`talkface_lite.weights.find_weights` finds (``syncnet_v2``).
"""

from __future__ import annotations

import math
import os
from typing import Dict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FPS = 25
SAMPLE_RATE = 16000
WINDOW = 5  # video frames per SyncNet input
MFCC_PER_FRAME = 4  # 100 Hz MFCC frames per 25 fps video frame
CROP_SIZE = 224
EMBED_DIM = 1024


def _audio_tower() -> nn.Sequential:
    """``(N, 1, 13, 20)`` MFCCs -> ``(N, 512, 1, 1)``; indices as ``S.netcnnaud``."""

    def block(cin, cout, k=(3, 3), pad=(1, 1)):
        return [nn.Conv2d(cin, cout, k, padding=pad), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    return nn.Sequential(
        *block(1, 64),
        nn.MaxPool2d(1, 1),  # 0-3    (13, 20)
        *block(64, 192),
        nn.MaxPool2d(3, stride=(1, 2)),  # 4-7    (11, 9)
        *block(192, 384),
        *block(384, 256),
        *block(256, 256),  # 8-16
        nn.MaxPool2d(3, stride=2),  # 17     (5, 4)
        *block(256, 512, k=(5, 4), pad=(0, 0)),
    )  # 18-20  (1, 1)


def _video_tower() -> nn.Sequential:
    """``(N, 3, 5, 224, 224)`` frames -> ``(N, 512, 1, 1, 1)``; indices as ``S.netcnnlip``."""

    def block(cin, cout, k, stride=(1, 1, 1), pad=(0, 0, 0)):
        return [nn.Conv3d(cin, cout, k, stride=stride, padding=pad), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]

    return nn.Sequential(
        *block(3, 96, (5, 7, 7), stride=(1, 2, 2)),  # 0-2    (1, 109, 109)
        nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2)),  # 3      (1, 54, 54)
        *block(96, 256, (1, 5, 5), stride=(1, 2, 2), pad=(0, 1, 1)),  # 4-6    (1, 26, 26)
        nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),  # 7      (1, 13, 13)
        *block(256, 256, (1, 3, 3), pad=(0, 1, 1)),
        *block(256, 256, (1, 3, 3), pad=(0, 1, 1)),
        *block(256, 256, (1, 3, 3), pad=(0, 1, 1)),  # 8-16
        nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2)),  # 17     (1, 6, 6)
        *block(256, 512, (1, 6, 6)),
    )  # 18-20  (1, 1, 1)


def _head(dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, dim))


class SyncNet(nn.Module):
    """SyncNet v2's two towers (syncnet_python's ``S``), module names kept for its state dict.

    Built here it has random weights; :func:`load_syncnet` reads ``syncnet_v2.model``.

    Args:
        dim: embedding size (1024 in syncnet_v2).
    """

    def __init__(self, dim: int = EMBED_DIM):
        super().__init__()
        self.netcnnaud = _audio_tower()
        self.netfcaud = _head(dim)
        self.netfclip = _head(dim)
        self.netcnnlip = _video_tower()

    def embed_audio(self, mfcc_clips: torch.Tensor) -> torch.Tensor:
        """``(N, 1, 13, 20)`` MFCC windows -> ``(N, dim)`` (not normalised)."""
        return self.netfcaud(self.netcnnaud(mfcc_clips).flatten(1))

    def embed_video(self, clips: torch.Tensor) -> torch.Tensor:
        """``(N, 3, 5, 224, 224)`` BGR 0-255 face crops -> ``(N, dim)`` (not normalised)."""
        return self.netfclip(self.netcnnlip(clips).flatten(1))


def load_syncnet(path: os.PathLike) -> SyncNet:
    """A :class:`SyncNet` in eval mode with the weights of ``syncnet_v2.model`` (a state dict).

    Keys must be those of the reference's ``S`` (``netcnnaud.0.weight``, ...); BatchNorm's
    ``num_batches_tracked`` may be absent (files saved by old PyTorch lack it).

    Raises:
        ValueError: the file is not such a state dict, or keys/shapes differ (names them).
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "netcnnaud.0.weight" not in state:
        raise ValueError(f"{path} is not a SyncNet state dict (no 'netcnnaud.0.weight')")
    net = SyncNet(dim=int(state["netfcaud.3.weight"].shape[0]))
    own = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    given = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    missing, unexpected = sorted(own.keys() - given.keys()), sorted(given.keys() - own.keys())
    wrong = [k for k in own.keys() & given.keys() if tuple(own[k].shape) != tuple(given[k].shape)]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{path} does not fit SyncNet: missing {missing[:3]}, unexpected {unexpected[:3]}, "
            f"wrong shape {sorted(wrong)[:3]}"
        )
    net.load_state_dict(given, strict=False)
    return net.eval()


# ------------------------------------------------------------------------------------------- audio


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_filters: int = 26, n_fft: int = 512, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular mel filters ``(n_filters, n_fft // 2 + 1)`` on FFT bins, python_speech_features' way.

    Edges are ``n_filters + 2`` points evenly spaced in mel from 0 Hz to ``sample_rate / 2``, each
    moved down to the FFT bin ``floor((n_fft + 1) f / sample_rate)``; filter ``j`` rises linearly
    from 0 at edge ``j`` to 1 at edge ``j + 1`` and falls back to 0 at edge ``j + 2`` (exclusive).
    """
    edges = np.floor(
        (n_fft + 1) * _mel_to_hz(np.linspace(0.0, _hz_to_mel(sample_rate / 2), n_filters + 2)) / sample_rate
    ).astype(int)
    bins = np.arange(n_fft // 2 + 1)[None, :]  # (1, F)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (n_filters, 1) each
    rise = (bins - lo) / np.maximum(mid - lo, 1)
    fall = (hi - bins) / np.maximum(hi - mid, 1)
    return np.where((bins >= lo) & (bins < mid), rise, 0.0) + np.where((bins >= mid) & (bins < hi), fall, 0.0)


def mfcc(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """13 MFCCs at 100 Hz, as ``python_speech_features.mfcc(audio, sample_rate)`` with its defaults.

    Steps: pre-emphasis ``x[t] - 0.97 x[t-1]``; 25 ms frames every 10 ms (400 / 160 samples at
    16 kHz), zero-padded at the end, no window; power spectrum ``|rfft_512|^2 / 512``; 26 mel
    filters (:func:`mel_filterbank`); log (zeros replaced by float eps); orthonormal DCT-II, first
    13; lifter ``1 + 11 sin(pi n / 22)``; coefficient 0 replaced by the log frame energy.

    Args:
        audio: ``(N,)`` samples in the units SyncNet saw: 16-bit integers (see :func:`to_int16_scale`).
        sample_rate: Hz.

    Returns:
        ``(1 + ceil((N - 400) / 160), 13)`` float64 (one frame when N <= 400).
    """
    from scipy.fft import dct

    x = np.asarray(audio, np.float64)
    x = np.append(x[:1], x[1:] - 0.97 * x[:-1])
    flen, step = int(math.floor(0.025 * sample_rate + 0.5)), int(math.floor(0.01 * sample_rate + 0.5))
    n_fft = 1 << max(0, math.ceil(math.log2(flen)))  # smallest power of two >= the frame
    n = 1 if len(x) <= flen else 1 + math.ceil((len(x) - flen) / step)
    x = np.concatenate([x, np.zeros((n - 1) * step + flen - len(x))])
    frames = x[np.arange(n)[:, None] * step + np.arange(flen)[None, :]]  # (n, flen)
    power = np.abs(np.fft.rfft(frames, n_fft)) ** 2 / n_fft  # (n, n_fft / 2 + 1)
    tiny = np.finfo(float).eps
    energy = power.sum(axis=1)
    energy = np.where(energy == 0, tiny, energy)
    bands = power @ mel_filterbank(26, n_fft, sample_rate).T  # (n, 26)
    bands = np.where(bands == 0, tiny, bands)
    cep = dct(np.log(bands), type=2, axis=1, norm="ortho")[:, :13]
    cep = cep * (1.0 + 11.0 * np.sin(np.pi * np.arange(13) / 22.0))
    cep[:, 0] = np.log(energy)
    return cep


def to_int16_scale(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> the 16-bit sample values a wav file holds (``round(32768 x)``, clipped)."""
    a = np.asarray(audio)
    if a.dtype == np.int16:
        return a.astype(np.float64)
    return np.clip(np.round(a.astype(np.float64) * 32768.0), -32768, 32767)


# ------------------------------------------------------------------------------------------- video


def crop_faces(
    frames: np.ndarray, boxes: np.ndarray, crop_scale: float = 0.4, size: int = CROP_SIZE, smooth: int = 13
) -> np.ndarray:
    """Face crops of one track with run_pipeline's geometry.

    Per frame, from a box ``(x0, y0, x1, y1)``: half-size ``s = max(w, h) / 2`` and centre, each
    median-filtered over the track (``scipy.signal.medfilt``, kernel ``smooth``, zero-padded ends,
    as the reference; the kernel shrinks to the track length for clips under 13 frames, which the
    reference never sees: it drops tracks under 100 frames); the frame is padded by ``int(s (1 + 2 crop_scale))`` pixels of value 110 and
    the crop is rows ``[cy - s, cy + s (1 + 2 crop_scale))``, columns
    ``[cx - s (1 + crop_scale), cx + s (1 + crop_scale))`` (more room below the box, for the mouth),
    then resized to ``size`` (bilinear, half-pixel centres, no antialiasing, like ``cv2.resize``).

    Args:
        frames: ``(n, H, W, 3)`` uint8 RGB.
        boxes: ``(n, 4)`` face boxes in pixels.
        crop_scale: the reference's ``--crop_scale`` (0.4).
        size: output side; pass the crop's own side to skip resizing.
        smooth: median-filter kernel (odd; 1: none).

    Returns:
        ``(n, size, size, 3)`` uint8 RGB crops.
    """
    from scipy.signal import medfilt

    frames, boxes = np.asarray(frames), np.asarray(boxes, np.float64)
    if frames.ndim != 4 or boxes.shape != (len(frames), 4):
        raise ValueError(f"need (n, H, W, 3) frames and (n, 4) boxes, got {frames.shape} and {boxes.shape}")
    s = np.maximum(boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]) / 2
    cy, cx = (boxes[:, 1] + boxes[:, 3]) / 2, (boxes[:, 0] + boxes[:, 2]) / 2
    k = min(int(smooth), len(frames) - (1 - len(frames) % 2))  # odd, at most the track length
    if k > 1:
        s, cy, cx = (medfilt(v, kernel_size=k) for v in (s, cy, cx))
    if (s < 1).any():
        raise ValueError("empty face box in the track: give boxes of at least 2 px")
    out = np.empty((len(frames), size, size, 3), np.uint8)
    for i, frame in enumerate(frames):
        pad = int(s[i] * (1 + 2 * crop_scale))
        big = np.pad(frame, ((pad, pad), (pad, pad), (0, 0)), constant_values=110)
        my, mx = cy[i] + pad, cx[i] + pad
        face = big[
            int(my - s[i]) : int(my + s[i] * (1 + 2 * crop_scale)),
            int(mx - s[i] * (1 + crop_scale)) : int(mx + s[i] * (1 + crop_scale)),
        ]
        t = torch.from_numpy(np.ascontiguousarray(face)).permute(2, 0, 1)[None].float()  # (1, 3, h, w)
        if t.shape[-2:] != (size, size):
            t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
        out[i] = t[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()
    return out


# ------------------------------------------------------------------------------------------- scores


def offset_distances(video: torch.Tensor, audio: torch.Tensor, vshift: int = 15) -> torch.Tensor:
    """Distances ``(N, 2 vshift + 1)`` of each video embedding to the audio embeddings ``-vshift..vshift`` later.

    Column ``j`` pairs video window ``i`` with audio window ``i + j - vshift`` (a zero vector
    outside the clip); the distance is ``||v - a + 1e-6||`` (``F.pairwise_distance``), as the reference.

    Args:
        video: ``(N, d)``; audio: ``(N, d)``.
    """
    n = video.shape[0]
    padded = F.pad(audio, (0, 0, vshift, vshift))  # (N + 2 vshift, d)
    idx = torch.arange(n)[:, None] + torch.arange(2 * vshift + 1)[None, :]  # (N, 2 vshift + 1)
    return F.pairwise_distance(video[:, None, :].expand(-1, idx.shape[1], -1), padded[idx], eps=1e-6)


def lse_from_distances(dists: torch.Tensor, vshift: int) -> Dict[str, float]:
    """LSE-C, LSE-D and the AV offset from :func:`offset_distances` ``(N, 2 vshift + 1)``.

    ``mdist`` = mean over windows; LSE-D = ``min(mdist)``; LSE-C = ``median(mdist) - min(mdist)``;
    offset = ``vshift - argmin`` frames.
    """
    mdist = dists.mean(0)  # (2 vshift + 1,)
    k = int(torch.argmin(mdist))
    lo = float(mdist[k])
    return {"lse_c": float(torch.median(mdist)) - lo, "lse_d": lo, "offset": vshift - k}


@torch.no_grad()
def sync_scores(
    net: SyncNet, crops: np.ndarray, audio: np.ndarray, vshift: int = 15, batch_size: int = 20
) -> Dict[str, float]:
    """LSE-C / LSE-D of one face track with its audio, as ``SyncNetInstance.evaluate``.

    Uses ``min(n_frames, floor(len(audio) / 640))`` frames and their first ``that - 5`` windows
    (the reference stops one window early).

    Args:
        net: a loaded :class:`SyncNet`.
        crops: ``(n, 224, 224, 3)`` uint8 RGB face crops at 25 fps (:func:`crop_faces`).
        audio: ``(N,)`` 16 kHz audio, float in [-1, 1] or int16.
        vshift: largest shift searched, in frames (15 in the reference's scripts).
        batch_size: windows per forward pass.

    Returns:
        ``{"lse_c", "lse_d", "offset", "n_windows"}``.

    Raises:
        ValueError: fewer than 6 usable frames.
    """
    crops = np.asarray(crops)
    cep = torch.from_numpy(mfcc(to_int16_scale(audio)).T.astype(np.float32))  # (13, T100)
    usable = min(len(crops), len(audio) // (SAMPLE_RATE // FPS))
    n = usable - WINDOW
    if n < 1:
        raise ValueError(f"SyncNet needs at least {WINDOW + 1} frames of video and audio, got {usable}")
    video = torch.from_numpy(np.ascontiguousarray(crops[:usable, ..., ::-1])).float()  # (T, H, W, 3) BGR
    video = video.permute(3, 0, 1, 2)  # (3, T, H, W)
    net.eval()
    v_emb, a_emb = [], []
    for s in range(0, n, batch_size):
        win = range(s, min(n, s + batch_size))
        v_emb.append(net.embed_video(torch.stack([video[:, i : i + WINDOW] for i in win])))  # (b, 3, 5, H, W)
        a_emb.append(
            net.embed_audio(torch.stack([cep[None, :, MFCC_PER_FRAME * i : MFCC_PER_FRAME * i + 20] for i in win]))
        )  # (b, 1, 13, 20)
    out = lse_from_distances(offset_distances(torch.cat(v_emb), torch.cat(a_emb), vshift), vshift)
    out["n_windows"] = n
    return out


__all__ = [
    "SyncNet",
    "crop_faces",
    "load_syncnet",
    "lse_from_distances",
    "mel_filterbank",
    "mfcc",
    "offset_distances",
    "sync_scores",
    "to_int16_scale",
]
