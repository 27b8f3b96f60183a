"""Tests for talkface_lite.training.landmark_models (arrays, normalisers, determinism, evaluation)."""

import numpy as np
import pytest
import torch
from landmark_fixtures import toy_speaker

from talkface_lite import repro
from talkface_lite.models.baselines import build_landmark_model
from talkface_lite.training.landmark_models import (
    SpeakerArrays,
    evaluate_landmarks,
    fit_normalisers,
    predict_landmarks,
    random_crops,
    train_landmark_model,
)


def test_speaker_arrays_validate_shapes_with_clear_errors():
    with pytest.raises(ValueError, match=r"landmarks must be \(T, 68, 3\) with T=10"):
        SpeakerArrays(np.zeros((10, 16, 29)), np.zeros((9, 68, 3)), np.zeros(10))
    with pytest.raises(ValueError, match=r"au45 must be \(T,\)"):
        SpeakerArrays(np.zeros((10, 16, 29)), np.zeros((10, 68, 3)), np.zeros(11))
    a = SpeakerArrays(np.zeros((10, 1024)), np.zeros((10, 68, 3)), np.zeros(10))
    assert a.feats.shape == (10, 1, 1024) and a.window == 1 and a.dim == 1024
    assert a.slice(2, 5).n_frames == 3


def test_evaluate_landmarks_hand_values():
    data = toy_speaker(T=50)
    perfect = evaluate_landmarks(data.landmarks, data.landmarks)
    assert perfect["lmd_mouth"] == 0.0 and abs(perfect["mouth_corr"] - 1.0) < 1e-9
    shifted = data.landmarks + np.array([0.3, 0.0, 0.0], np.float32)  # a translation is removed by centring
    assert evaluate_landmarks(shifted, data.landmarks)["lmd_mouth"] < 1e-6
    moved = data.landmarks.copy()
    moved[:, 48, 0] += (
        0.2  # one of 20 mouth points moved by 0.2: the centred error is 0.2 * 19/20 on it, 0.01 on the others
    )
    expected = (0.2 * 19 / 20 + 19 * 0.01) / 20
    assert abs(evaluate_landmarks(moved, data.landmarks)["lmd_mouth"] - expected) < 1e-5


def test_fit_normalisers_sets_mean_shape_and_feature_stats():
    data = toy_speaker(T=80)
    m = fit_normalisers(build_landmark_model("transformer", data.dim, data.window, d_model=16, n_layers=1), data)
    assert np.allclose(m.shape.mean_shape.numpy(), data.landmarks.mean(0), atol=1e-6)
    assert np.allclose(m.vae.encoder.norm.mean.numpy(), data.feats.reshape(-1, data.dim).mean(0), atol=1e-5)


def test_random_crops_are_consistent_windows():
    torch.manual_seed(0)
    data = toy_speaker(T=100)
    b = random_crops(data, seq_len=20, batch=3)
    assert b["feats"].shape == (3, 20, 16, 29) and b["eye"].shape == (3, 20, 1)
    i = b["idx"][1]
    assert torch.equal(b["landmarks"][1], torch.from_numpy(data.landmarks)[i])
    assert (i.diff() == 1).all()


def test_training_is_deterministic_under_repro_seeding():
    data = toy_speaker(T=120)

    def fit():
        repro.seed_everything(7)
        m = build_landmark_model("transformer", data.dim, data.window, d_model=16, n_layers=1, n_heads=2)
        hist = train_landmark_model(m, data, steps=8, seq_len=24, batch_size=2, progress=False)
        return hist["total"], predict_landmarks(m, data.feats)

    (h1, p1), (h2, p2) = fit(), fit()
    assert h1 == h2 and np.array_equal(p1, p2)


def test_chunked_prediction_equals_one_pass():
    """Long clips are predicted in chunks with a margin of the receptive radius: same landmarks as one pass."""
    from talkface_lite.models.baselines import TemporalConvBaseline
    from talkface_lite.models.landmark_transformer import DynamicLandmarkTransformer
    from talkface_lite.training.landmark_models import receptive_radius

    torch.manual_seed(0)
    feats = torch.randn(300, 16, 8)
    au = torch.rand(300) * 5
    dlt = DynamicLandmarkTransformer(8, 16, n_layers=2, radius=8)
    # two bands of 8 frames + the attention filter's 8 neighbours (4 each side) + the VAE's 3-frame convolution
    assert receptive_radius(dlt) >= 2 * 8 + 4 + 1
    for model in (dlt, TemporalConvBaseline(8, 16)):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))  # untrained heads are zero: make the output depend on the input
        whole = predict_landmarks(model, feats, au, chunk=1000)
        parts = predict_landmarks(model, feats, au, chunk=64)
        assert np.allclose(whole, parts, atol=1e-5), type(model).__name__


def test_speed_perturbation_by_hand():
    from talkface_lite.training.landmark_models import SpeakerArrays, concat_arrays, speed_perturbed

    t = np.arange(4 * 16000) / 16000
    wave = (0.5 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)  # 4 s of a 200 Hz tone -> 100 frames
    ramp = np.arange(100, dtype=np.float32)
    arrays = SpeakerArrays(
        np.zeros((100, 16, 80), np.float32),
        np.broadcast_to(ramp[:, None, None], (100, 68, 3)).copy(),
        ramp / 20,
        audio=wave,
    )
    fast = speed_perturbed(arrays, 1.25)
    assert fast.n_frames == 80 and len(fast.audio) == 51200  # 4 s / 1.25 = 3.2 s
    np.testing.assert_allclose(fast.landmarks[:, 0, 0], np.arange(80) * 1.25, atol=1e-4)  # frame i shows 1.25 i
    np.testing.assert_allclose(fast.au45, np.arange(80) * 1.25 / 20, atol=1e-5)
    spectrum = np.abs(np.fft.rfft(fast.audio))
    assert np.argmax(spectrum) * 16000 / len(fast.audio) == pytest.approx(250, abs=1)  # pitch x 1.25
    both = concat_arrays([arrays, fast])
    assert both.n_frames == 180 and len(both.audio) == 64000 + 51200
    with pytest.raises(ValueError, match="speed factor must be in"):
        speed_perturbed(arrays, 2.0)
    with pytest.raises(ValueError, match="speed factor must be in"):
        speed_perturbed(arrays, True)
    with pytest.raises(ValueError, match="needs the clip's waveform"):
        speed_perturbed(SpeakerArrays(arrays.feats, arrays.landmarks, arrays.au45), 1.1)


def test_a_feature_that_never_varied_in_training_is_ignored_not_blown_up():
    from talkface_lite.models.audio_encoder import FeatureNorm

    train = torch.zeros(50, 3)
    train[:, 0] = torch.linspace(0, 1, 50)  # dims 1 and 2 never move (a phone the clip never says)
    norm = FeatureNorm(3).fit(train)
    test = torch.tensor([[0.5, 1.0, 0.0]])
    out = norm(test)
    assert torch.isfinite(out).all() and out[0, 1] == 0 and out[0, 2] == 0
    assert out[0, 0] == pytest.approx((0.5 - 0.5) / float(train[:, 0].std()), abs=1e-6)


def test_noise_augmentation_sets_the_snr_and_keeps_the_truth():
    from talkface_lite.training.landmark_models import SpeakerArrays, noise_augmented

    t = np.arange(2 * 16000) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)  # 1 kHz tone, inside the noise band
    arrays = SpeakerArrays(np.zeros((50, 16, 80), np.float32), np.zeros((50, 68, 3)), np.zeros(50), audio=wave)
    noisy = noise_augmented(arrays, snr_db=20.0, seed=1)
    noise = noisy.audio.astype(np.float64) - wave
    snr = 10 * np.log10(np.mean(wave.astype(np.float64) ** 2) / np.mean(noise**2))
    assert snr == pytest.approx(20.0, abs=0.01)
    assert noisy.feats.shape == (50, 16, 80) and noisy.landmarks is arrays.landmarks
    np.testing.assert_array_equal(noise_augmented(arrays, 20.0, seed=1).audio, noisy.audio)  # seeded
    with pytest.raises(ValueError, match="snr_db must be in"):
        noise_augmented(arrays, snr_db=-5)


def test_augmented_copies_keep_the_clips_feature_kind_and_kinds_are_not_mixed():
    from talkface_lite.training.landmark_models import (
        SpeakerArrays,
        concat_arrays,
        noise_augmented,
        speed_perturbed,
        synthetic_arrays,
    )

    a = synthetic_arrays(3, kind="mel_cmvn")
    assert a.kind == "mel_cmvn" and a.slice(0, 10).kind == "mel_cmvn"
    fast, noisy = speed_perturbed(a, 1.1), noise_augmented(a, 20.0, seed=1)
    assert fast.kind == noisy.kind == "mel_cmvn"
    # per-clip standardised: every band of the copy has mean 0 (not log-mel's about -6)
    assert abs(float(fast.feats[:, 8].mean())) < 0.2 and abs(float(noisy.feats[:, 8].mean())) < 0.2
    assert concat_arrays([a, fast, noisy]).kind == "mel_cmvn"
    mel = speed_perturbed(a, 0.9, kind="mel")
    assert mel.kind == "mel"
    with pytest.raises(ValueError, match=r"different feature kinds cannot be joined \(\['mel', 'mel_cmvn'\]\)"):
        concat_arrays([a, mel])
    with pytest.raises(ValueError, match="unknown feature kind 'mell'"):
        speed_perturbed(a, 1.1, kind="mell")
    untagged = SpeakerArrays(a.feats, a.landmarks, a.au45, audio=a.audio)
    assert speed_perturbed(untagged, 1.1).kind == "mel"  # unknown: log-mel, as before
    for seed in (-1, True, 1.5):
        with pytest.raises(ValueError, match="seed must be a non-negative integer"):
            noise_augmented(a, 20.0, seed=seed)
