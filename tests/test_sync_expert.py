"""Tests for talkface_lite.models.sync_expert (clips, pair sampling, contrastive training, sync loss)."""

import numpy as np
import pytest
import torch
from landmark_fixtures import toy_speaker

from talkface_lite.models.sync_expert import (
    LandmarkSyncExpert,
    mouth_clips,
    offset_sweep,
    sample_pairs,
    sync_bce,
    sync_loss,
    sync_score,
)
from talkface_lite.training.landmark_models import train_sync_expert


def test_mouth_clips_are_centred_five_frame_windows():
    lm = torch.randn(12, 68, 3) + 10.0
    clips = mouth_clips(lm, 5)
    assert clips.shape == (8, 5, 20, 3)
    assert torch.allclose(clips.mean(2), torch.zeros(8, 5, 3), atol=1e-5)
    m3 = lm[3, 48:68] - lm[3, 48:68].mean(0)
    assert torch.allclose(clips[1, 2], m3, atol=1e-5)  # clip 1 holds frames 1..5


def test_sample_pairs_labels_and_shifts():
    torch.manual_seed(0)
    data = toy_speaker(T=60)
    lms, feats = torch.from_numpy(data.landmarks), torch.from_numpy(data.feats)
    clips, wins, labels = sample_pairs(lms, feats, 32, min_shift=3)
    assert clips.shape == (32, 5, 20, 3) and wins.shape == (32, 5, 16, 29)
    assert labels.tolist() == [1.0] * 16 + [0.0] * 16
    with pytest.raises(ValueError, match="frames"):
        sample_pairs(lms[:8], feats[:8], 4)


def test_sync_bce_hand_values():
    # cos = 1 -> p = 1 (clamped): loss ~0 for a positive; cos = 0 -> p = 0.5: loss log 2 either way
    assert float(sync_bce(torch.tensor([1.0]), torch.tensor([1.0]))) < 1e-5
    assert abs(float(sync_bce(torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.0]))) - np.log(2)) < 1e-6


def test_trained_expert_prefers_aligned_audio_and_peaks_at_zero_offset():
    torch.manual_seed(0)
    train, test = toy_speaker(T=600, seed=0), toy_speaker(T=300, seed=1)
    expert = LandmarkSyncExpert(train.dim, train.window, dim=32)
    hist = train_sync_expert(expert, train, steps=300, batch_size=64, lr=3e-3, progress=False)
    assert np.mean(hist["acc"][-20:]) > 0.75  # the toy mouth rests in half the frames: those pairs are ambiguous
    aligned = sync_score(expert, test.landmarks, test.feats)
    shifted = sync_score(expert, test.landmarks, test.feats, offset=6)
    assert aligned > shifted + 0.2
    sweep = offset_sweep(expert, test.landmarks, test.feats, max_offset=6)
    assert sweep["offsets"][int(np.argmax(sweep["scores"]))] in (-1, 0, 1)


def test_sync_loss_gradient_reaches_landmarks_only():
    expert = LandmarkSyncExpert(29, 16, dim=16).requires_grad_(False)
    lm = torch.randn(2, 9, 68, 3, requires_grad=True)
    loss = sync_loss(expert, lm, torch.randn(2, 9, 16, 29))
    loss.backward()
    assert lm.grad is not None and lm.grad[:, :, 48:68].abs().sum() > 0
    assert lm.grad[:, :, :48].abs().sum() == 0  # only mouth points enter the expert
