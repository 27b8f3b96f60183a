"""Driving a trained head with new audio: the audio it accepts (and says what it did), the mp4, refusals."""

import re
import subprocess
import sys

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from scipy.io import wavfile

from talkface_lite import audio as A
from talkface_lite import drive as D
from talkface_lite.data.synthetic import cached_speaker
from talkface_lite.drive import DriveError, drive, driving_au45, load_driving_audio, pose_path, probe_audio
from talkface_lite.training import TrainConfig, train


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    root = tmp_path_factory.mktemp("drive")
    ds = cached_speaker(seconds=4, size=32, seed=0, root=root / "cache", progress=False)
    cfg = TrainConfig(
        coarse_steps=30,
        fine_steps=0,
        n_rays=128,
        n_samples=24,
        grid_resolution=16,
        dlt_steps=2,
        field=dict(tri_levels=4, tri_log2=10, tri_base=8, tri_finest=64, lm_levels=2, sh_degree=2, hidden=32),
    )
    return train(ds, root / "run", cfg, progress=False)


def speech(head) -> np.ndarray:
    return A.load_audio(head.dataset.root / "audio.wav")  # (N,) 16 kHz, 4 s


def streams(path):
    err = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True
    ).stderr
    return err


def test_mp4_has_one_video_and_one_audio_stream_of_the_audio_length(head, tmp_path):
    wav = tmp_path / "in.wav"
    A.save_wav(wav, speech(head)[: 16000 * 2])  # 2 s = 50 frames
    res = drive(head, wav, out=tmp_path / "out.mp4", progress=False)
    info = streams(res.out)
    assert info.count("Video: h264") == 1 and info.count("Audio: aac") == 1
    assert "Duration: 00:00:02.0" in info
    assert res.frames is None and res.landmarks.shape == (50, 68, 3) and res.au45.shape == (50,)
    assert [p.name for p in tmp_path.iterdir()] == [] or sorted(p.name for p in tmp_path.iterdir()) == [
        "in.wav",
        "out.mp4",
    ]


def test_stereo_44k_is_mixed_and_resampled_and_says_so(head, tmp_path):
    mono = speech(head)[:16000]
    x = np.interp(np.arange(44100) / 44100, np.arange(16000) / 16000, mono)
    wavfile.write(tmp_path / "st.wav", 44100, (np.stack([x, x], -1) * 20000).astype(np.int16))
    assert probe_audio(tmp_path / "st.wav") == {"rate": 44100, "channels": 2}
    wave, notes = load_driving_audio(tmp_path / "st.wav")
    assert abs(len(wave) - 16000) <= 1
    assert "mixed 2 channels down to mono" in notes and "resampled 44100 Hz -> 16000 Hz" in notes


def test_8k_audio_works_and_is_noted(head, tmp_path):
    x = speech(head)[:16000:2]
    wavfile.write(tmp_path / "n.wav", 8000, (x * 20000).astype(np.int16))
    res = drive(head, tmp_path / "n.wav", progress=False)
    assert res.frames.shape == (25, 32, 32, 3)
    assert any("nothing above 4000 Hz" in n for n in res.notes)


def test_silent_audio_renders_a_still_mouth_and_says_so(head, tmp_path):
    wavfile.write(tmp_path / "s.wav", 16000, np.zeros(16000, np.int16))
    res = drive(head, tmp_path / "s.wav", blinks="none", poses="still", progress=False)
    assert any(
        n.endswith(
            "s.wav is silent (0.00 s of it is louder than -60 dBFS): there is no speech to follow, "
            "so the mouth holds the model's pose for silence"
        )
        for n in res.notes
    ), res.notes
    assert sum("silent" in n for n in res.notes) == 1  # said once, for the file
    # every frame has the same (silent) audio and camera: the mouth does not move, nor do the frames
    # (whether it is *closed* depends on a trained transformer: notebook 09 measures that)
    from talkface_lite import landmarks as lmk

    assert lmk.mouth_opening(res.landmarks).std() < 1e-4
    assert np.abs(res.frames.astype(int) - res.frames[:1]).max() <= 1


def test_not_audio_and_missing_files_are_refused(head, tmp_path):
    (tmp_path / "notes.wav").write_text("this is not audio")
    with pytest.raises(DriveError, match="cannot use .*notes.wav as audio"):
        drive(head, tmp_path / "notes.wav", progress=False)
    with pytest.raises(DriveError, match="does not exist"):
        drive(head, tmp_path / "missing.wav", progress=False)


def test_output_paths_are_checked_before_work(head, tmp_path):
    A.save_wav(tmp_path / "a.wav", speech(head)[:8000])
    (tmp_path / "taken.mp4").write_bytes(b"mine")
    with pytest.raises(DriveError, match="already exists"):
        drive(head, tmp_path / "a.wav", out=tmp_path / "taken.mp4", progress=False)
    assert (tmp_path / "taken.mp4").read_bytes() == b"mine"
    with pytest.raises(DriveError, match="does not exist: create it first"):
        drive(head, tmp_path / "a.wav", out=tmp_path / "nowhere" / "x.mp4", progress=False)
    (tmp_path / "file").write_text("")
    with pytest.raises(DriveError, match="does not exist"):  # its 'folder' is a file
        drive(head, tmp_path / "a.wav", out=tmp_path / "file" / "x.mp4", progress=False)
    with pytest.raises(DriveError, match="must end in .mp4"):
        drive(head, tmp_path / "a.wav", out=tmp_path / "x.avi", progress=False)


def test_interrupted_render_leaves_nothing_behind(head, tmp_path, monkeypatch):
    A.save_wav(tmp_path / "a.wav", speech(head)[:16000])
    calls = {"n": 0}
    real = head.render_frame

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(head, "render_frame", flaky)
    with pytest.raises(KeyboardInterrupt):
        drive(head, tmp_path / "a.wav", out=tmp_path / "o.mp4", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


def test_blinks_generated_at_the_speakers_rate(head):
    from talkface_lite.models.blink import BlinkStatistics

    au = driving_au45(head, 25 * 600, "generate", seed=0)  # 10 minutes
    rate = BlinkStatistics.from_au45(au).rate_per_min
    # the generator's intervals are log-normal around the speaker's; 4 s of speaker hold few blinks, so the prior
    # (3.5 s median interval, about 17 per minute) dominates: expect 10-25 per minute
    assert 10 <= rate <= 25
    assert np.array_equal(driving_au45(head, 50, "none"), np.zeros(50, np.float32))
    with pytest.raises(DriveError, match="has 3 values but the audio makes 50 frames"):
        driving_au45(head, 50, np.zeros(3))


def test_pose_paths():
    poses = torch.eye(4).repeat(5, 1, 1)
    poses[:, 0, 3] = torch.arange(5.0)
    assert pose_path(poses, 12, "train")[:, 0, 3].tolist() == [0, 1, 2, 3, 4, 3, 2, 1, 0, 1, 2, 3]  # mirrored
    assert pose_path(poses, 3, "still")[:, 0, 3].tolist() == [2, 2, 2]  # closest to the mean
    smooth = pose_path(poses, 5, "smooth")
    assert torch.allclose(smooth[:, :3, :3], torch.eye(3).expand(5, 3, 3), atol=1e-5)
    with pytest.raises(DriveError, match="poses must be one of"):
        pose_path(poses, 3, "orbit")


def test_cli_render(head, tmp_path):
    A.save_wav(tmp_path / "a.wav", speech(head)[:8000])
    cmd = [
        sys.executable,
        "-m",
        "talkface_lite.cli",
        "render",
        str(head.run_dir),
        str(tmp_path / "a.wav"),
        str(tmp_path / "o.mp4"),
        "--quiet",
        "--poses",
        "still",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout and (tmp_path / "o.mp4").stat().st_size > 0
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "already exists" in res.stderr and "Traceback" not in res.stderr


def test_audio_longer_than_ten_minutes_streams_in_bounded_memory(head, tmp_path, monkeypatch):
    import resource

    n = 16000 * 630  # 10.5 minutes
    t = np.arange(n) / 16000
    x = (0.2 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.5 * t))).astype(np.float32)
    A.save_wav(tmp_path / "long.wav", x)
    # the renderer is tested above; a constant image keeps 15750 frames fast here
    monkeypatch.setattr(head, "render_frame", lambda *a, **k: torch.full((32, 32, 3), 0.5))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    res = drive(head, tmp_path / "long.wav", out=tmp_path / "long.mp4", progress=False)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert res.frames is None and res.landmarks.shape == (15750, 68, 3)
    assert "Duration: 00:10:30.0" in streams(res.out)
    # one pass of the landmark transformer over 15750 frames would hold (4 heads, T, T) attention: > 3.9 GB
    assert grown < 1.5e9


def test_a_run_on_imported_features_cannot_be_driven_by_raw_audio(tmp_path):
    import shutil

    from talkface_lite.data.dataset import add_features, load_dataset

    src = cached_speaker(seconds=4, size=32, seed=0, root=tmp_path / "cache", progress=False)
    ds = tmp_path / "ds"
    shutil.copytree(src, ds)
    T = load_dataset(ds).n_frames
    add_features(ds, "deepspeech", np.random.default_rng(0).standard_normal((T, 16, 29)).astype(np.float32))
    cfg = TrainConfig(
        coarse_steps=1,
        fine_steps=0,
        n_rays=32,
        n_samples=16,
        grid_resolution=8,
        dlt_steps=1,
        audio_kind="deepspeech",
        field=dict(tri_levels=2, tri_log2=8, tri_base=8, tri_finest=16, lm_levels=2, sh_degree=1, hidden=16),
    )
    head = train(ds, tmp_path / "run", cfg, progress=False)
    A.save_wav(tmp_path / "a.wav", A.load_audio(ds / "audio.wav")[:8000])
    with pytest.raises(DriveError, match="trained on 'deepspeech' features, which are imported"):
        drive(head, tmp_path / "a.wav", progress=False)


@pytest.mark.parametrize(
    "blinks, words",
    [
        ("blink", "--blinks blink is neither of those nor a .npy file: use generate, none, or the path"),
        ("missing.npy", "does not exist"),
        ("pickled.npy", "is not a plain numeric .npy array"),
        ("strings.npy", "not numbers"),
        ("two_columns.npy", "has shape (100, 2): give one AU45 value per frame"),
        ("nine.npy", "holds values from 0 to 9, off the AU45 0-5 scale"),  # the API refuses it too: no clipping
        ("negative.npy", "holds values from -3 to -3, off the AU45 0-5 scale"),
    ],
)
def test_bad_blinks_are_refused_before_any_work(head, tmp_path, blinks, words):
    np.save(tmp_path / "pickled.npy", np.array([{"au45": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "strings.npy", np.array(["a", "b"]))
    np.save(tmp_path / "two_columns.npy", np.zeros((100, 2)))
    np.save(tmp_path / "nine.npy", np.linspace(0, 9, 100))
    np.save(tmp_path / "negative.npy", np.full(100, -3.0))
    arg = blinks if blinks == "blink" else str(tmp_path / blinks)
    with pytest.raises(D.DriveError, match=re.escape(words)):
        D.check_blinks(arg)
    out = tmp_path / "x.mp4"
    with pytest.raises(D.DriveError, match=re.escape(words)):
        D.drive(head, tmp_path / "not-even-read.wav", blinks=arg, out=out)  # refused before the audio is looked at
    assert not out.exists()
    assert D.check_blinks(np.zeros((7, 1))).shape == (7,)  # a column is one value per frame


def test_unfinished_run_is_noted(head):
    assert head.unfinished() == ""
    head.step -= 1
    try:
        assert "stopped at step 29 of 30 (coarse stage)" in head.unfinished()
    finally:
        head.step += 1


def test_render_frames_refuses_indices_outside_the_dataset(head):
    from talkface_lite.training import render_frames

    n = head.dataset.n_frames
    for bad in ([-1], [0.5], [n], [True]):
        with pytest.raises(ValueError, match=rf"integer indices in \[0, {n}\)"):
            render_frames(head, bad, progress=False)
    assert render_frames(head, head.dataset.split("val")[:1], progress=False).shape[0] == 1  # tensor elements pass


@pytest.fixture(scope="module")
def lm_model():
    from talkface_lite.models.baselines import build_landmark_model
    from talkface_lite.training.landmark_models import fit_normalisers, synthetic_arrays

    arrays = synthetic_arrays(4, speaker_seed=0, utterance_seed=0)
    return fit_normalisers(build_landmark_model("linear", dim_in=80), arrays), arrays


def test_landmarks_from_audio_in_one_call(lm_model, tmp_path):
    from talkface_lite.training.landmark_models import predict_landmarks

    model, arrays = lm_model
    wave = arrays.audio[:32000]  # 2 s -> 50 frames
    with pytest.raises(DriveError, match="cannot tell which feature kind a model with D=80 reads"):
        D.landmarks_from_audio(model, wave)  # log-mel and per-clip normalised log-mel are both 80-d
    got = D.landmarks_from_audio(model, wave, kind="mel")
    assert got.kind == "mel" and got.landmarks.shape == (50, 68, 3) and got.feats.shape == (50, 16, 80)
    expected = predict_landmarks(model, A.audio_windows(wave, kind="mel", n_frames=50))
    np.testing.assert_array_equal(got.landmarks, expected)
    wav = tmp_path / "two.wav"
    A.save_wav(wav, wave)
    np.testing.assert_allclose(D.landmarks_from_audio(model, wav, kind="mel").landmarks, expected, atol=1e-5)
    closed = predict_landmarks(model, A.audio_windows(wave, kind="mel", n_frames=50), np.full(50, 5.0))
    np.testing.assert_array_equal(
        D.landmarks_from_audio(model, wave, kind="mel", au45=np.full(50, 5.0)).landmarks, closed
    )


def test_landmarks_from_audio_refuses_before_computing_features(lm_model, monkeypatch):
    model, arrays = lm_model

    def no_features(*a, **k):
        raise AssertionError("features were computed before the refusal")

    monkeypatch.setattr(A, "audio_windows", no_features)
    with pytest.raises(DriveError, match="reads D=80 features but 'phones' has D=41"):
        D.landmarks_from_audio(model, arrays.audio, kind="phones")
    with pytest.raises(DriveError, match="'deepspeech' is not computed from audio"):
        D.landmarks_from_audio(model, arrays.audio, kind="deepspeech")
    with pytest.raises(DriveError, match=r"au45 must have one value per frame, shape \(100,\)"):
        D.landmarks_from_audio(model, arrays.audio, kind="mel", au45=np.zeros(7))
    with pytest.raises(DriveError, match="mono"):
        D.landmarks_from_audio(model, np.zeros((100, 2), np.float32), kind="mel")
    with pytest.raises(DriveError, match="finite values on the 0-5 scale"):
        D.landmarks_from_audio(model, arrays.audio, kind="mel", au45=np.full(100, np.nan))
    with pytest.raises(DriveError, match="finite values on the 0-5 scale"):
        D.landmarks_from_audio(model, arrays.audio, kind="mel", au45=np.full(100, 99.0))


def test_a_trained_model_and_a_run_remember_their_feature_kind(lm_model, head):
    import copy

    from talkface_lite.training.landmark_models import train_landmark_model

    model, arrays = lm_model
    assert arrays.kind == "mel"
    model = copy.deepcopy(model)
    train_landmark_model(model, arrays, steps=1, progress=False)
    assert model.feature_kind == "mel"
    wave = arrays.audio[:16000]
    assert D.landmarks_from_audio(model, wave).kind == "mel"  # D=80 alone could not tell mel from mel_cmvn
    with pytest.raises(DriveError, match="the model was trained on 'mel' features, not 'mel_cmvn'"):
        D.landmarks_from_audio(model, wave, kind="mel_cmvn")
    assert head.landmark_model().feature_kind == head.config.audio_kind == "mel"
    assert D.landmarks_from_audio(head.landmark_model(), speech(head)[:16000]).landmarks.shape == (25, 68, 3)
    with pytest.raises(DriveError, match="a transcript is only used by phones features"):
        D.landmarks_from_audio(model, wave, transcript="hello")


@pytest.fixture(scope="module")
def trained_lm(lm_model):
    import copy

    from talkface_lite.training.landmark_models import train_landmark_model

    model, arrays = lm_model
    model = copy.deepcopy(model)
    train_landmark_model(model, arrays, steps=60, progress=False)  # its mouth now follows the audio
    return model, arrays


def test_waveforms_in_any_pcm_type_are_converted_alike_and_say_so(trained_lm):
    model, arrays = trained_lm
    wave = arrays.audio[:16000]
    as_float = D.landmarks_from_audio(model, wave)
    assert as_float.notes == []
    i16 = np.round(wave * 32767).astype(np.int16)
    got = D.landmarks_from_audio(model, i16)
    assert "integer int16 samples converted to float in [-1, 1]" in got.notes
    np.testing.assert_allclose(got.landmarks, as_float.landmarks, atol=1e-3)
    assert np.abs(as_float.landmarks - as_float.landmarks.mean(0)).max() > 1e-2  # (so the match means something)
    u8 = np.clip(np.round(wave * 128 + 128), 0, 255).astype(np.uint8)  # offset binary: 128 is zero
    got = D.landmarks_from_audio(model, u8)
    assert "integer uint8 samples converted to float in [-1, 1]" in got.notes
    np.testing.assert_array_equal(got.audio, (u8.astype(np.float32) - 128) / 128)  # centred, not +0.5


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(sr=0), "sr must be between 4000 and 192000 Hz"),
        (dict(sr=-16000), "sr must be between 4000 and 192000 Hz"),
        (dict(sr=1), "sr must be between 4000 and 192000 Hz"),
        (dict(sr=16000.5), "sr must be the waveform's sample rate in whole Hz"),
        (dict(sr=True), "sr must be the waveform's sample rate in whole Hz"),
        (dict(sr=float("nan")), "sr must be the waveform's sample rate in whole Hz"),
        (dict(sr=float("inf")), "sr must be the waveform's sample rate in whole Hz"),
        (dict(audio=np.zeros(639, np.float32)), "the waveform is 39.9 ms long"),
        (dict(audio=np.full(16000, np.nan, np.float32)), "the waveform holds NaN or inf samples"),
        (dict(audio=np.full(16000, 3000.0, np.float32)), "looks like integer PCM stored as float"),
        (dict(audio=np.zeros(0, np.float32)), "the waveform is 0.0 ms long: at least one 25 fps frame (40 ms)"),
        (dict(audio=np.zeros(320, np.float32)), "the waveform is 20.0 ms long"),
        (dict(audio=b"speech.wav"), "not bytes"),
        (dict(audio=np.array(["a", "b"])), "must hold real samples"),
        (dict(au45="generate"), "au45 must be numbers, one per frame"),
    ],
)
def test_bad_waveform_arguments_are_refused_before_features(lm_model, monkeypatch, kwargs, words):
    model, arrays = lm_model
    monkeypatch.setattr(A, "audio_windows", lambda *a, **k: pytest.fail("features were computed"))
    args = {"audio": arrays.audio[:16000], "kind": "mel", **kwargs}
    with pytest.raises(DriveError, match=re.escape(words)):
        D.landmarks_from_audio(model, **args)


def test_a_folder_is_not_called_missing(lm_model, tmp_path):
    with pytest.raises(DriveError, match="is a folder, not an audio file"):
        D.landmarks_from_audio(lm_model[0], tmp_path, kind="mel")


def test_silence_is_noted_for_log_mel_and_refused_for_per_clip_normalisation(lm_model, tmp_path):
    model, _ = lm_model
    faint = np.random.default_rng(0).standard_normal(48000).astype(np.float32) * 3e-5  # about -90 dBFS
    got = D.landmarks_from_audio(model, faint, kind="mel")
    assert any(n.startswith("the waveform is silent (0.00 s of it is louder than -60 dBFS)") for n in got.notes)
    click = np.zeros(32000, np.float32)
    click[100] = 0.5  # one 20 ms frame above -60 dBFS: not speech
    assert any("the waveform is silent (0.02 s" in n for n in D.landmarks_from_audio(model, click, kind="mel").notes)
    tone = 0.01 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32)  # -43 dBFS RMS: not silent
    assert not any("silent" in n for n in D.landmarks_from_audio(model, tone, kind="mel_cmvn").notes)
    # per-clip standardisation would scale faint noise or a click up to the size of speech: refused, before features
    for audio in (faint, np.zeros(48000, np.float32), click):
        with pytest.raises(DriveError, match="mel_cmvn features normalise each clip by its own level"):
            D.landmarks_from_audio(model, audio, kind="mel_cmvn")
    wavfile.write(tmp_path / "zeros.wav", 16000, np.zeros(16000, np.int16))
    with pytest.raises(DriveError, match="zeros.wav is silent"):
        D.landmarks_from_audio(model, tmp_path / "zeros.wav", kind="mel_cmvn")


def test_what_loading_did_to_a_file_is_in_the_notes(lm_model, tmp_path):
    model, arrays = lm_model
    wave = arrays.audio[:16000]
    wavfile.write(tmp_path / "dc.wav", 16000, (0.5 * wave + 0.3).astype(np.float32))
    wavfile.write(tmp_path / "loud.wav", 16000, (wave / np.abs(wave).max() * 2.4).astype(np.float32))
    dc = D.landmarks_from_audio(model, tmp_path / "dc.wav", kind="mel")
    assert any(re.search(r"a constant offset of \+0\.3\d* \(DC\) under the signal; removed", n) for n in dc.notes)
    loud = D.landmarks_from_audio(model, tmp_path / "loud.wav", kind="mel")
    assert any("samples reach 2.4, beyond [-1, 1]; scaled" in n for n in loud.notes), loud.notes
    # a waveform gets the same corrections as a file, with the same notes
    arr = D.landmarks_from_audio(model, 0.5 * wave + 0.3, kind="mel")
    assert any(re.search(r"the waveform: a constant offset of \+0\.3\d* \(DC\)", n) for n in arr.notes), arr.notes
    assert abs(float(arr.audio.mean())) < 0.01
    arr = D.landmarks_from_audio(model, wave / np.abs(wave).max() * 1.2, kind="mel")
    assert any("the waveform: samples reach 1.2, beyond [-1, 1]; scaled" in n for n in arr.notes), arr.notes
    assert float(np.abs(arr.audio).max()) <= 1.0 + 1e-3
    with pytest.raises(DriveError, match="sr= is the rate of a waveform"):
        D.landmarks_from_audio(model, tmp_path / "dc.wav", kind="mel", sr=44100)


def test_cli_render_refuses_a_negative_seed_before_loading(tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "talkface_lite.cli",
            "render",
            str(tmp_path / "no-run"),
            "a.wav",
            str(tmp_path / "o.mp4"),
            "--seed",
            "-5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2 and "seed must be a non-negative integer, got -5" in res.stderr
    assert "Traceback" not in res.stderr
