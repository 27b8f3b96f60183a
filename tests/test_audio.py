"""Tests for talkface_lite.audio: loading, 50 Hz features, per-frame windows, smoothing, imports."""

import subprocess

import numpy as np
import pytest
import torch

from talkface_lite import audio


def _ffmpeg(*args):
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *args], check=True)


# ---------------------------------------------------------------- loading


def test_wav_int16_stereo_44k_is_mono_16k(tmp_path):
    from scipy.io import wavfile

    sr = 44100
    t = np.arange(sr) / sr  # 1 s
    left = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    wavfile.write(tmp_path / "a.wav", sr, np.stack([left, left], axis=1))
    x = audio.load_audio(tmp_path / "a.wav")
    assert x.dtype == np.float32 and x.ndim == 1
    assert x.shape[0] == 16000  # 44100 -> 16000 samples for 1 s
    assert abs(np.abs(x).max() - 0.5) < 0.02  # amplitude kept by the int16 -> float scaling


def test_save_wav_roundtrip(tmp_path):
    x = np.linspace(-0.9, 0.9, 1000, dtype=np.float32)
    audio.save_wav(tmp_path / "b.wav", x)
    y = audio.load_audio(tmp_path / "b.wav")
    assert y.shape == x.shape
    assert np.abs(y - x).max() <= 0.5 / 32768 + 1e-7  # int16 quantisation, same scale both ways


def test_mp4_audio_via_ffmpeg(tmp_path):
    f = tmp_path / "v.mp4"
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:s=64x64:r=25:d=1",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=300:duration=1",
        "-shortest",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        str(f),
    )
    x = audio.load_audio(f)
    assert abs(x.shape[0] - 16000) < 1600  # about 1 s (aac priming adds a few ms)
    spectrum = np.abs(np.fft.rfft(x[2000:14000]))
    peak_hz = np.argmax(spectrum) * 16000 / 12000
    assert abs(peak_hz - 300) < 5


def test_missing_file_and_no_audio_and_not_media(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        audio.load_audio(tmp_path / "nope.wav")
    silent = tmp_path / "silent.mp4"
    _ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=64x64:r=25:d=1", "-pix_fmt", "yuv420p", str(silent))
    with pytest.raises(audio.NoAudioStreamError, match="no audio stream"):
        audio.load_audio(silent)
    junk = tmp_path / "junk.mp4"
    junk.write_text("this is not a video")
    with pytest.raises(ValueError, match="could not decode"):
        audio.load_audio(junk)


# ---------------------------------------------------------------- features


def test_feature_shapes_and_rate():
    x = np.zeros(16000, np.float32)  # 1 s -> 1 + 16000 // 320 = 51 centred steps
    assert audio.compute_features(x, "mel").shape == (51, 80)
    assert audio.compute_features(x, "mfcc").shape == (51, 13)
    with pytest.raises(ValueError, match="unknown feature kind"):
        audio.compute_features(x, "deepspeech")
    with pytest.raises(ValueError, match="mono"):
        audio.compute_features(np.zeros((100, 2)), "mel")


def test_mel_filterbank_peaks_at_band_centres():
    fb = audio.mel_filterbank(n_mels=10, n_fft=512, sr=16000)
    assert fb.shape == (10, 257)
    assert np.all(fb >= 0) and np.all(fb.max(axis=1) <= 1.0 + 1e-6)
    # band centres are increasing in frequency
    assert np.all(np.diff(np.argmax(fb, axis=1)) > 0)


def test_sine_lights_the_band_containing_its_frequency():
    sr = 16000
    t = np.arange(sr) / sr
    feats = audio.compute_features(np.sin(2 * np.pi * 1000 * t).astype(np.float32), "mel")
    band = int(np.argmax(feats[10:40].mean(axis=0)))
    fb = audio.mel_filterbank()
    bin_1k = int(round(1000 / (sr / audio.N_FFT)))  # FFT bin of 1 kHz = 32
    assert fb[band, bin_1k] > 0.5  # the loudest band is one of the (at most two) covering 1 kHz


def test_frames_are_centred_on_step_times():
    x = np.zeros(16000, np.float32)
    x[8000] = 1.0  # a click at 0.5 s = step 25 (25 * 320 = 8000)
    energy = audio.compute_features(x, "mel").mean(axis=1)
    assert int(np.argmax(energy)) == 25
    assert energy[25] - energy[24] > 1.0 or energy[24] > energy[22]  # neighbours overlap (25 ms window, 20 ms hop)


def test_frame_windows_layout_and_edge_padding():
    feats = np.arange(40, dtype=np.float32)[:, None]  # value = step index, D = 1
    w = audio.frame_windows(feats, n_frames=20)
    assert w.shape == (20, 16, 1)
    assert w[0, :, 0].tolist() == [0] * 8 + list(range(8))  # steps -8..7, edge padded
    assert w[10, :, 0].tolist() == list(range(12, 28))  # 2*10-8 .. 2*10+7
    assert w[19, :, 0].tolist() == list(range(30, 40)) + [39] * 6
    assert audio.frame_windows(feats).shape[0] == 20  # default ceil(40 / 2)


def test_audio_windows_frame_count():
    x = np.zeros(16000 * 2, np.float32)  # 2 s -> 50 frames at 25 fps
    assert audio.audio_windows(x, "mfcc").shape == (50, 16, 13)


# ---------------------------------------------------------------- smoothing


def test_smoothing_weights_and_filter():
    w = audio.smoothing_weights(2)  # sigma 1: exp(-k^2 / 2) for k = -2..2, normalised
    raw = np.exp(-0.5 * np.arange(-2, 3) ** 2)
    assert np.allclose(w, raw / raw.sum())
    impulse = np.zeros((9, 3))
    impulse[4] = 1.0
    out = audio.smooth_features(impulse, radius=2)
    assert np.allclose(out[2:7, 0], w)  # an impulse spreads into the taps
    const = np.full((6, 16, 4), 2.5, np.float32)
    assert np.allclose(audio.smooth_features(const, radius=4), 2.5)  # edges replicated: constants survive
    assert audio.smooth_features(impulse, radius=0) is impulse
    t = torch.from_numpy(np.random.default_rng(0).normal(size=(12, 16, 5)))
    assert torch.allclose(audio.smooth_features(t, 3), torch.from_numpy(audio.smooth_features(t.numpy(), 3)))
    with pytest.raises(ValueError, match="radius"):
        audio.smoothing_weights(-1)


# ---------------------------------------------------------------- imports


def test_deepspeech_kept_and_hubert_layouts():
    ds = np.random.default_rng(0).normal(size=(30, 16, 29)).astype(np.float32)
    assert np.array_equal(audio.load_feature_array(ds), ds)
    hu = np.arange(10 * 2 * 3, dtype=np.float32).reshape(10, 2, 3)  # (T, 2, D)
    w = audio.load_feature_array(hu)
    assert w.shape == (10, 16, 3)
    # frame 5 is centred on 50 Hz step 10, which is hu[5, 0]
    assert np.array_equal(w[5, 8], hu[5, 0]) and np.array_equal(w[5, 9], hu[5, 1])
    h50 = np.zeros((100, 1024), np.float32)  # 50 Hz HuBERT -> 50 frames
    assert audio.load_feature_array(h50).shape == (50, 16, 1024)
    h25 = np.arange(50, dtype=np.float32)[:, None]  # one row per frame when n_frames says so
    w25 = audio.load_feature_array(h25, n_frames=50)
    assert w25.shape == (50, 16, 1) and w25[20, 8, 0] == 20


def test_feature_import_errors(tmp_path):
    with pytest.raises(ValueError, match=r"\(4, 5, 6, 7\)"):
        audio.load_feature_array(np.zeros((4, 5, 6, 7)))
    with pytest.raises(ValueError, match="29 .*deepspeech.*1024 .*hubert"):
        audio.load_feature_array(np.zeros((10, 16, 29)), expected_dim=1024)
    with pytest.raises(ValueError, match="covers 10 video frames but the video has 20"):
        audio.load_feature_array(np.zeros((10, 16, 29)), n_frames=20)
    with pytest.warns(audio.AudioAdjustmentWarning, match="repeated the last window 2 time"):  # small gap padded
        assert audio.load_feature_array(np.zeros((10, 16, 29)), n_frames=12).shape == (12, 16, 29)
    np.save(tmp_path / "aud_ds.npy", np.zeros((5, 16, 29)))
    with pytest.raises(FileNotFoundError, match="aud_ds.npy"):
        audio.load_feature_array(tmp_path / "aud.npy")
    assert audio.load_feature_array(tmp_path / "aud_ds.npy").shape == (5, 16, 29)


def test_mel_cmvn_is_log_mel_standardised_per_band_over_the_clip():
    rng = np.random.default_rng(0)
    wave = (0.05 * rng.standard_normal(16000)).astype(np.float32)
    mel = audio.compute_features(wave, kind="mel")
    cmvn = audio.compute_features(wave, kind="mel_cmvn")
    assert cmvn.shape == mel.shape == (51, 80) and cmvn.dtype == np.float32
    np.testing.assert_allclose(cmvn, (mel - mel.mean(0)) / mel.std(0), atol=1e-4)
    # a louder copy of the same recording (a gain is a constant shift of log-mel) gives the same features
    np.testing.assert_allclose(audio.compute_features(4 * wave, kind="mel_cmvn"), cmvn, atol=1e-3)


def test_feature_kinds_from_the_command_line():
    assert audio.parse_kinds("mel") == ("mel",)
    assert audio.parse_kinds(" mel , phones") == ("mel", "phones")
    for bad in ("", "mel,", ",mel", "mel,,phones", " "):
        with pytest.raises(ValueError, match="has an empty entry"):
            audio.parse_kinds(bad)
    with pytest.raises(ValueError, match="unknown feature kind 'phonez'"):
        audio.parse_kinds("mel,phonez")
