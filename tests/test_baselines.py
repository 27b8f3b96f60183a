"""Tests for talkface_lite.models.baselines (mean shape, linear/MLP regressor, temporal conv)."""

import numpy as np
import pytest
import torch
from landmark_fixtures import toy_speaker

from talkface_lite.models.baselines import FrameRegressor, MeanShapeBaseline, TemporalConvBaseline, build_landmark_model
from talkface_lite.training.landmark_models import evaluate_landmarks, predict_landmarks, train_landmark_model


def test_mean_shape_baseline_is_the_training_mean_everywhere():
    data = toy_speaker(T=100)
    m = MeanShapeBaseline(data.dim, data.window, 1)
    hist = train_landmark_model(m, data, steps=5, progress=False)
    assert hist == {"step": []}  # nothing to train
    pred = predict_landmarks(m, data.feats[:7])
    assert np.allclose(pred, data.landmarks.mean(0), atol=1e-6)
    res = evaluate_landmarks(pred, data.landmarks[:7])
    assert res["mouth_corr"] == 0.0  # a constant prediction has no correlation


def test_linear_regressor_recovers_a_linear_audio_to_mouth_map():
    torch.manual_seed(0)
    data = toy_speaker(T=400, blinks=False)
    # make the mouth a *linear* function of the centre feature (no relu): a linear model can fit it exactly
    f0 = data.feats[:, 7:9, 0].mean(1)
    lm = data.landmarks.copy()
    lm[:] = data.landmarks.mean(0)
    lm[:, [55, 56, 57, 58, 59, 65, 66, 67], 1] -= 0.05 * f0[:, None]
    data.landmarks = lm
    m = FrameRegressor(data.dim, data.window, 1, hidden=0)
    hist = train_landmark_model(
        m, data, steps=200, seq_len=64, batch_size=8, lr=1e-2, weights={"vel": 0.0}, progress=False
    )
    assert hist["pos"][-1] < 0.05 * hist["pos"][0]
    assert evaluate_landmarks(predict_landmarks(m, data.feats), lm)["mouth_corr"] > 0.95


def test_conv_and_mlp_shapes_and_start_at_mean_shape():
    data = toy_speaker(T=60)
    for m in (TemporalConvBaseline(29, 16, 1, channels=16), FrameRegressor(29, 16, 1, hidden=32)):
        m.fit_shape(torch.from_numpy(data.landmarks)).eval()
        out = m(torch.from_numpy(data.feats)[None], torch.zeros(1, 60, 1))
        assert out["landmarks"].shape == (1, 60, 68, 3)
        assert torch.allclose(
            out["landmarks"][0], torch.from_numpy(data.landmarks.mean(0)).expand(60, 68, 3), atol=1e-6
        )


def test_conv_baseline_learns_on_unseen_audio():
    torch.manual_seed(0)
    train, test = toy_speaker(T=500, seed=0), toy_speaker(T=200, seed=1)
    m = build_landmark_model("conv", train.dim, train.window, channels=32)
    train_landmark_model(m, train, steps=120, seq_len=48, batch_size=8, lr=3e-3, progress=False)
    assert evaluate_landmarks(predict_landmarks(m, test.feats, test.au45), test.landmarks)["mouth_corr"] > 0.7


def test_bad_names_and_windows_are_explained():
    with pytest.raises(ValueError, match="choose one of"):
        build_landmark_model("lstm", 29)
    with pytest.raises(ValueError, match=r"windows \(16, 29\)"):
        FrameRegressor(29, 16)(torch.zeros(1, 5, 2, 1024))
