"""Tests for talkface_lite.models.audio_vae (centre target, KL, reparameterisation, training)."""

import torch

from talkface_lite.models.audio_vae import AudioVAE, centre_features, kl_divergence, reparameterize, vae_losses


def test_centre_features_is_the_frames_own_step():
    w = torch.arange(4.0)[None, :, None].expand(2, 4, 3)  # steps 0..3
    assert torch.equal(centre_features(w), torch.full((2, 3), 1.5))  # mean of steps 1 and 2
    assert torch.equal(centre_features(torch.arange(3.0)[None, :, None]), torch.tensor([[1.0]]))  # odd: middle step
    assert torch.equal(centre_features(torch.full((5, 1, 7), 2.0)), torch.full((5, 7), 2.0))


def test_kl_divergence_hand_values():
    z = torch.zeros(3, 4)
    assert float(kl_divergence(z, z)) == 0.0
    # mu = 1, logvar = 0: 0.5 * (1 + 1 - 1 - 0) = 0.5 per element
    assert abs(float(kl_divergence(torch.ones(3, 4), z)) - 0.5) < 1e-7
    # mu = 0, logvar = log 2: 0.5 * (2 - 1 - log 2)
    lv = torch.full((2,), float(torch.log(torch.tensor(2.0))))
    assert abs(float(kl_divergence(torch.zeros(2), lv)) - 0.5 * (1 - 0.6931472)) < 1e-6


def test_reparameterize_mean_in_eval_and_variance_in_training():
    mu, lv = torch.full((20000,), 1.0), torch.full((20000,), 0.0)
    assert torch.equal(reparameterize(mu, lv, sample=False), mu)
    torch.manual_seed(0)
    z = reparameterize(mu, lv)
    assert abs(float(z.mean()) - 1.0) < 0.03 and abs(float(z.std()) - 1.0) < 0.03


def test_vae_shapes_and_training_reduces_reconstruction():
    torch.manual_seed(0)
    feats = torch.randn(1, 200, 16, 29).cumsum(1) * 0.1  # smooth track
    vae = AudioVAE(29, 16, latent_dim=8)
    vae.encoder.norm.fit(feats)
    out = vae(feats)
    assert out["mu"].shape == (1, 200, 8) and out["recon"].shape == (1, 200, 29)
    opt = torch.optim.Adam(vae.parameters(), 3e-3)
    first = None
    for _ in range(60):
        loss = vae_losses(vae(feats))
        total = loss["recon"] + 1e-3 * loss["kl"]
        first = first if first is not None else float(loss["recon"].detach())
        opt.zero_grad()
        total.backward()
        opt.step()
    assert float(vae_losses(vae(feats))["recon"]) < 0.5 * first


def test_eval_mode_is_deterministic():
    vae = AudioVAE(13, 4).eval()
    x = torch.randn(1, 10, 4, 13)
    assert torch.equal(vae(x)["z"], vae(x)["mu"])
