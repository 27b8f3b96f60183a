"""Arrays whose meaning would be guessed: every adjustment is refused or noted with what was done."""

import numpy as np
import pytest
from scipy.io import wavfile

from talkface_lite import audio
from talkface_lite.audio import AudioAdjustmentWarning


def test_a_frame_rate_array_is_noted_as_such():
    # 40 rows for a 40-frame clip: one row per frame (25 Hz) -- or a 50 Hz array of a clip half as long
    feats = np.random.default_rng(0).normal(size=(40, 1024)).astype(np.float32)
    with pytest.warns(AudioAdjustmentWarning, match=r"40 rows for 40 video frames, taken as one row per frame"):
        out = audio.load_feature_array(feats, n_frames=40)
    assert out.shape == (40, 16, 1024)


def test_trimming_and_padding_are_noted():
    feats = np.ones((42, 16, 29), np.float32)
    with pytest.warns(AudioAdjustmentWarning, match="covers 42 video frames, the video has 40; dropped the last 2"):
        assert audio.load_feature_array(feats, n_frames=40).shape == (40, 16, 29)
    with pytest.warns(AudioAdjustmentWarning, match="repeated the last window 1 time"):
        assert audio.load_feature_array(feats[:39], n_frames=40).shape == (40, 16, 29)


def test_other_window_lengths_are_refused():
    with pytest.raises(ValueError, match=r"windows of 7 steps.*Pass the 50 Hz sequence"):
        audio.load_feature_array(np.ones((40, 7, 29), np.float32), n_frames=40)


def test_integer_pcm_as_float_is_refused_and_integer_dtype_is_converted_with_a_note():
    t = np.arange(16000) / 16000
    wave = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    pcm = np.round(wave * 32767).astype(np.int16)
    with pytest.raises(ValueError, match=r"samples reach 16384.*integer PCM stored as float; divide by 32768"):
        audio.compute_features(pcm.astype(np.float32))
    with pytest.warns(AudioAdjustmentWarning, match=r"integer int16 samples converted .*divided by 32768"):
        got = audio.compute_features(pcm)
    np.testing.assert_array_equal(got, audio.compute_features(pcm.astype(np.float32) / 32768))


def test_a_float_wav_beyond_full_scale_is_scaled_with_a_note(tmp_path):
    wave = np.zeros(1600, np.float32)
    wave[100], wave[200] = 2.0, -0.5
    wavfile.write(tmp_path / "hot.wav", 16000, wave)
    with pytest.warns(AudioAdjustmentWarning, match=r"samples reach 2, beyond \[-1, 1\]; scaled by 1/2"):
        got = audio.load_audio(tmp_path / "hot.wav")
    assert got[100] == 1.0 and got[200] == -0.25 and np.abs(got).max() == 1.0


def test_cli_shows_notes_as_one_line(tmp_path, capsys):
    import warnings

    from talkface_lite import cli

    cli._notes_as_lines("render")
    warnings.warn("scaled by 1/2", AudioAdjustmentWarning)
    assert capsys.readouterr().err == "talkface-lite render: note: scaled by 1/2\n"
