"""Audio VAE: per-frame audio features -> a latent distribution -> reconstructed features.

The paper (§III-B) passes the smoothed audio features ``A`` through a
variational autoencoder: an encoder maps them to the parameters of a
Gaussian in latent space, a decoder reconstructs the audio from a sample.
The Dynamic Landmark Transformer then reads the latents (Eq. 6).

Layout (ours, stated because the paper gives no sizes):

* encoder: :class:`~talkface_lite.models.audio_encoder.AudioEncoder`
  (standardise, AudioNet over the window, attention time filter) ->
  a 1D temporal convolution (kernel 3) -> ``mu, logvar`` of size ``latent_dim``;
* decoder: MLP ``z -> `` the frame's own standardised features, i.e. the
  mean of the two window steps centred on the frame (40 ms = one video frame
  of 50 Hz features; the single vector for ``W = 1``). Reconstructing the
  standardised input (not the encoder's code) keeps the target fixed, so the
  encoder cannot make the loss vanish by shrinking its code.
* losses: reconstruction MSE and the KL divergence to ``N(0, I)``, averaged
  per frame and per latent dimension (:func:`vae_losses`).

Explained in notebooks/05_landmark_transformer.ipynb.
"""

from __future__ import annotations

from typing import Dict

import torch
from torch import nn

from .audio_encoder import AudioEncoder, as_windows


def centre_features(windows: torch.Tensor) -> torch.Tensor:
    """The features of the frame itself: mean of the two centre steps of each window.

    Args:
        windows: ``(..., W, D)``.

    Returns:
        ``(..., D)``; for ``W = 1`` the single step, for odd ``W`` the middle step.
    """
    W = windows.shape[-2]
    if W == 1:
        return windows[..., 0, :]
    if W % 2:
        return windows[..., W // 2, :]
    return windows[..., W // 2 - 1 : W // 2 + 1, :].mean(-2)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, sample: bool = True) -> torch.Tensor:
    """``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)`` (``mu`` when ``sample=False``)."""
    if not sample:
        return mu
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Mean over all elements of ``KL(N(mu, exp(logvar)) || N(0, 1))``.

    Note:
        Per element ``0.5 * (mu^2 + exp(logvar) - 1 - logvar)``; zero exactly
        when ``mu = 0`` and ``logvar = 0``.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean()


class AudioVAE(nn.Module):
    """Variational autoencoder over per-frame audio feature windows.

    Args:
        dim_in: feature dimension ``D``.
        window: window length ``W``.
        latent_dim: size of the latent ``z`` per frame.
        code_dim: size of the AudioNet code.
        hidden: width of the decoder MLP.
        smooth: use the attention time filter in the encoder.
    """

    def __init__(
        self,
        dim_in: int,
        window: int = 16,
        latent_dim: int = 16,
        code_dim: int = 32,
        hidden: int = 64,
        smooth: bool = True,
    ):
        super().__init__()
        self.dim_in, self.window, self.latent_dim = dim_in, window, latent_dim
        self.encoder = AudioEncoder(dim_in, window, code_dim, smooth=smooth)
        self.to_stats = nn.Conv1d(code_dim, 2 * latent_dim, kernel_size=3, padding=1)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.LeakyReLU(0.02),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.02),
            nn.Linear(hidden, dim_in),
        )

    def encode(self, feats: torch.Tensor):
        """Latent distribution per frame.

        Args:
            feats: ``(B, T, W, D)`` (or ``(T, W, D)`` / ``(T, D)``, treated as ``B = 1``).

        Returns:
            ``(mu, logvar)``, each ``(B, T, latent_dim)``.
        """
        x = as_windows(feats)
        if x.ndim == 3:
            x = x.unsqueeze(0)  # (1, T, W, D)
        code = self.encoder(x)  # (B, T, code_dim)
        stats = self.to_stats(code.transpose(1, 2)).transpose(1, 2)  # (B, T, 2 * latent_dim)
        mu, logvar = stats.chunk(2, dim=-1)
        return mu, logvar.clamp(-10.0, 10.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z: (B, T, latent_dim)`` -> reconstructed standardised features ``(B, T, D)``."""
        return self.decoder(z)

    def target(self, feats: torch.Tensor) -> torch.Tensor:
        """The reconstruction target: standardised centre features ``(B, T, D)``."""
        x = as_windows(feats)
        if x.ndim == 3:
            x = x.unsqueeze(0)
        return self.encoder.norm(centre_features(x))

    def forward(self, feats: torch.Tensor, sample: bool = None) -> Dict[str, torch.Tensor]:
        """Encode, sample (training) or take the mean (eval), decode.

        Args:
            feats: ``(B, T, W, D)``.
            sample: draw ``z`` (default: ``self.training``).

        Returns:
            dict with ``z, mu, logvar`` ``(B, T, latent_dim)``, ``recon`` and
            ``recon_target`` ``(B, T, D)``.
        """
        mu, logvar = self.encode(feats)
        z = reparameterize(mu, logvar, self.training if sample is None else sample)
        return {"z": z, "mu": mu, "logvar": logvar, "recon": self.decode(z), "recon_target": self.target(feats)}


def vae_losses(out: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Reconstruction MSE and KL of an :meth:`AudioVAE.forward` result.

    Returns:
        ``{"recon": scalar, "kl": scalar}``.
    """
    return {
        "recon": torch.mean((out["recon"] - out["recon_target"]) ** 2),
        "kl": kl_divergence(out["mu"], out["logvar"]),
    }


__all__ = ["AudioVAE", "centre_features", "kl_divergence", "reparameterize", "vae_losses"]
