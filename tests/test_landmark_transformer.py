"""Tests for talkface_lite.models.landmark_transformer (band attention, shape head, Eq. 7 losses, training)."""

import math

import pytest
import torch
from landmark_fixtures import toy_speaker

from talkface_lite.models.landmark_transformer import (
    BandSelfAttention,
    DynamicLandmarkTransformer,
    ShapeHead,
    landmark_losses,
    positional_loss,
    velocity_loss,
)
from talkface_lite.training.landmark_models import evaluate_landmarks, predict_landmarks, train_landmark_model


def test_band_attention_matches_hand_written_softmax_attention():
    torch.manual_seed(0)
    att = BandSelfAttention(d_model=8, n_heads=2, radius=2).eval()
    with torch.no_grad():
        att.rel_bias.normal_()
    x = torch.randn(1, 7, 8)
    q, k, v = att.qkv(x).reshape(1, 7, 3, 2, 4).permute(2, 0, 3, 1, 4)
    out_heads = []
    for h in range(2):
        s = q[0, h] @ k[0, h].T / math.sqrt(4)  # (7, 7)
        for i in range(7):
            for j in range(7):
                s[i, j] = s[i, j] + att.rel_bias[h, j - i + 2] if abs(i - j) <= 2 else float("-inf")
        out_heads.append(torch.softmax(s, -1) @ v[0, h])
    expected = att.proj(torch.cat(out_heads, -1))[None]
    assert torch.allclose(att(x), expected, atol=1e-5)


def test_band_attention_is_local():
    torch.manual_seed(0)
    att = BandSelfAttention(16, 4, radius=3).eval()
    x = torch.randn(1, 20, 16)
    y = x.clone()
    y[0, 15] += 5.0  # only frames 12..18 may change
    d = (att(x) - att(y)).abs().amax(-1)[0]
    assert (d[:12] < 1e-6).all() and (d[19:] < 1e-6).all() and d[15] > 1e-3


def test_shape_head_fit_hand_values():
    lm = torch.zeros(2, 68, 3)
    lm[1, :, 0] = 2.0  # frame 0 at x=0, frame 1 at x=2: mean x=1, every offset length 1
    head = ShapeHead().fit(lm)
    assert torch.allclose(head.mean_shape[:, 0], torch.ones(68)) and abs(float(head.scale) - 1.0) < 1e-6
    assert torch.allclose(head.to_landmarks(head.to_offsets(lm).flatten(-2)), lm)
    with pytest.raises(ValueError, match=r"\(T, 68, 3\)"):
        ShapeHead().fit(torch.zeros(5, 68, 2))


def test_positional_and_velocity_loss_hand_values():
    gt = torch.zeros(1, 4, 68, 3)
    pred = gt.clone()
    pred[..., 0] = 3.0  # every landmark off by (3, 0, 0): squared distance 9, constant in time
    assert float(positional_loss(pred, gt)) == 9.0
    assert float(positional_loss(pred, gt, scale=3.0)) == 1.0
    assert float(velocity_loss(pred, gt)) == 0.0
    pred[:, 2:, :, 1] = 2.0  # a jump of 2 in y between frames 1 and 2: one of three differences
    assert abs(float(velocity_loss(pred, gt)) - 4.0 / 3.0) < 1e-6


def test_untrained_model_predicts_mean_shape_and_checks_eye_shape():
    torch.manual_seed(0)
    m = DynamicLandmarkTransformer(29, 16, d_model=32, n_layers=1).eval()
    lm = torch.randn(50, 68, 3)
    m.fit_shape(lm)
    out = m(torch.randn(1, 10, 16, 29))
    assert out["landmarks"].shape == (1, 10, 68, 3)
    assert torch.allclose(out["landmarks"], lm.mean(0).expand(1, 10, 68, 3), atol=1e-6)
    with pytest.raises(ValueError, match="eye state"):
        m(torch.randn(1, 10, 16, 29), torch.zeros(1, 9, 1))


def test_losses_include_vae_terms_with_stated_weights():
    m = DynamicLandmarkTransformer(29, 16, d_model=32, n_layers=1)
    out = m(torch.randn(2, 12, 16, 29))
    t = landmark_losses(
        out, torch.zeros(2, 12, 68, 3), torch.tensor(1.0), {"pos": 1.0, "vel": 0.0, "kl": 0.0, "recon": 0.0}
    )
    assert set(t) == {"pos", "vel", "kl", "recon", "total"}
    assert torch.allclose(t["total"], t["pos"])


@pytest.mark.parametrize("layout,dim", [("deepspeech", 29), ("hubert", 1024), ("hubert2", 1024)])
def test_trains_end_to_end_on_deepspeech_and_hubert_shapes(layout, dim):
    torch.manual_seed(0)
    data = toy_speaker(T=200, D=dim, layout=layout)
    m = DynamicLandmarkTransformer(data.dim, data.window, d_model=32, n_layers=1, n_heads=2, latent_dim=8)
    hist = train_landmark_model(m, data, steps=60, seq_len=32, batch_size=4, lr=3e-3, progress=False)
    first, last = sum(hist["pos"][:5]) / 5, sum(hist["pos"][-5:]) / 5
    assert last < 0.7 * first
    pred = predict_landmarks(m, data.feats, data.au45)
    assert pred.shape == (200, 68, 3)


def test_transformer_learns_audio_driven_mouth_on_unseen_audio():
    torch.manual_seed(0)
    train, test = toy_speaker(T=500, seed=0), toy_speaker(T=200, seed=1)
    m = DynamicLandmarkTransformer(train.dim, train.window, d_model=32, n_layers=1, n_heads=2)
    train_landmark_model(m, train, steps=150, seq_len=48, batch_size=8, lr=3e-3, progress=False)
    res = evaluate_landmarks(predict_landmarks(m, test.feats, test.au45), test.landmarks)
    assert res["mouth_corr"] > 0.7
