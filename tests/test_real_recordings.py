"""`prepare` on recordings as users bring them, rebuilt from the synthetic speaker so the truth is known.

Each test makes its clip here (synthetic frames + ffmpeg): a phone's rotation flag and non-square
pixels, a face that is covered, cut to black or joined by a second face, audio that is shorter, longer
or silent, an OpenFace CSV that ends early, feature files in transposed layouts, a run that was killed,
and inputs that must be refused before any decoding. Expected values come from the generator's
landmarks, blinks and frame count.
"""

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from carphone import needs_dlib

from talkface_lite import audio
from talkface_lite.cli import main as cli
from talkface_lite.data import dataset as ds
from talkface_lite.data import leftovers
from talkface_lite.data.video import codec as video
from talkface_lite.data.video import prepare
from talkface_lite.eye_state import detect_blinks

SIZE = 160


@pytest.fixture(scope="module")
def speaker():
    """4 s of the synthetic speaker (seed 0: blinks at 1.10 s and 3.42 s), 160x160, 100 frames."""
    needs_dlib()
    from talkface_lite.data import synthetic

    return synthetic.generate_speaker(seconds=4, size=SIZE, seed=0, progress=False)


def ffmpeg(*args):
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *args], check=True)


def write_clip(path, frames, speech=None, vf=None, rotation=None, crf=12):
    """Encode ``(T, H, W, 3)`` frames at 25 fps with ``speech`` (16 kHz) as AAC; optional filter / display rotation."""
    t, h, w, _ = frames.shape
    raw = path.with_suffix(".rgb")
    raw.write_bytes(np.ascontiguousarray(frames).tobytes())
    args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "25", "-i", str(raw)]
    if speech is not None:
        args += ["-i", str(audio.save_wav(path.with_suffix(".wav"), speech)), "-c:a", "aac"]
    if vf:
        args += ["-vf", vf]
    target = path.with_name("plain-" + path.name) if rotation is not None else path
    ffmpeg(*args, "-c:v", "libx264", "-crf", str(crf), "-pix_fmt", "yuv420p", str(target))
    if rotation is not None:
        ffmpeg("-display_rotation", str(rotation), "-i", str(target), "-c", "copy", str(path))
    return path


def median_error(lm, truth):
    return float(np.median(np.linalg.norm(lm - truth, axis=-1)))


def no_decoding(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("decoding started before the inputs were checked")

    monkeypatch.setattr(video, "decode", refuse)


# ----------------------------------------------------------------------------- 1. container geometry
def test_phone_rotation_flag_gives_upright_frames(speaker, tmp_path):
    pad = 48  # upright portrait frame 160 wide x 256 tall, stored turned (256x160) with a 90-degree flag
    upright = np.pad(speaker.frames, ((0, 0), (pad, pad), (0, 0), (0, 0)), mode="edge")
    stored = np.ascontiguousarray(np.rot90(upright, k=-1, axes=(1, 2)))
    clip = write_clip(tmp_path / "phone.mp4", stored, speaker.audio, rotation=90)
    info = video.probe(clip)
    assert (info.width, info.height, info.display_size, info.rotation) == (256, 160, (160, 256), 90.0)
    report = prepare.prepare_video(clip, tmp_path / "spk", workers=1, progress=False)
    d = ds.load_dataset(tmp_path / "spk")
    assert (d.height, d.width) == (256, 160)
    truth = speaker.landmarks2d + np.array([0.0, pad], np.float32)
    assert median_error(d.landmarks2d.numpy(), truth) < 3.0  # upright, unsquashed: dlib on the true landmarks
    assert any("display rotation 90 degrees" in n and "as 160x256" in n for n in report.notes)
    assert report.detected_frames == 100


def test_non_square_pixels_are_stretched_to_the_display_aspect(speaker, tmp_path):
    squeezed = np.stack(
        [np.asarray(__import__("PIL.Image").Image.fromarray(f).resize((120, SIZE))) for f in speaker.frames]
    )
    clip = write_clip(tmp_path / "anamorphic.mp4", squeezed, speaker.audio, vf="setsar=4/3")
    info = video.probe(clip)
    assert (info.width, info.height, info.display_size, info.sar) == (120, 160, (160, 160), "4:3")
    report = prepare.prepare_video(clip, tmp_path / "spk", workers=1, progress=False)
    d = ds.load_dataset(tmp_path / "spk")
    assert (d.height, d.width) == (160, 160)
    assert median_error(d.landmarks2d.numpy(), speaker.landmarks2d) < 3.0
    assert any("non-square pixels (sample aspect ratio 4:3)" in n for n in report.notes)


# ----------------------------------------------------------------------------- 2. lost faces, a second face
def test_covered_and_black_frames_count_as_missing_without_drift(speaker, tmp_path):
    frames = speaker.frames.copy()
    lo, hi = speaker.landmarks2d.min(axis=1), speaker.landmarks2d.max(axis=1)  # (T, 2) face boxes
    for i in range(40, 55):  # a grey card in front of the face
        x0, y0 = (lo[i] - 15).astype(int).clip(0)
        x1, y1 = (hi[i] + 15).astype(int)
        frames[i, y0:y1, x0:x1] = 150
    frames[70:82] = 0  # a cut to black
    report = prepare.prepare_video(
        write_clip(tmp_path / "covered.mp4", frames, speaker.audio), tmp_path / "spk", workers=1, progress=False
    )
    assert report.interpolated_runs == [(40, 55), (70, 82)]  # exactly the 15 covered and 12 black frames
    assert report.detected_frames == 73
    assert any("no face in 27 frames (1.60-2.20 s, 2.80-3.28 s)" in n for n in report.notes)
    lm = ds.load_dataset(tmp_path / "spk").landmarks2d.numpy()
    seen = np.r_[0:40, 55:70, 82:100]
    assert np.linalg.norm(lm[seen] - speaker.landmarks2d[seen], axis=-1).max() < 8.0  # no frame drifted off the face
    # the interpolated stretches start and end on good landmarks, so they stay near the (slowly moving) truth
    assert median_error(lm[70:82], speaker.landmarks2d[70:82]) < 6.0


def test_face_covered_in_most_frames_is_refused(speaker, tmp_path):
    frames = speaker.frames.copy()
    frames[20:80, 20:150, 20:150] = 150  # 60 % of the frames without a visible face
    clip = write_clip(tmp_path / "mostly_covered.mp4", frames, speaker.audio)
    with pytest.raises(video.VideoError, match="a face was found in only 40 of 100 frames"):
        prepare.prepare_video(clip, tmp_path / "spk", workers=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["mostly_covered.mp4", "mostly_covered.rgb", "mostly_covered.wav"]
    )


def test_second_face_is_reported_and_never_followed(speaker, tmp_path):
    from talkface_lite.data import synthetic

    other = synthetic.generate_speaker(seconds=4, size=SIZE, seed=1, progress=False)
    frames = np.concatenate([speaker.frames, other.frames], axis=2)  # two people side by side, 320x160
    report = prepare.prepare_video(
        write_clip(tmp_path / "two.mp4", frames, speaker.audio), tmp_path / "spk", workers=1, progress=False
    )
    lm = ds.load_dataset(tmp_path / "spk").landmarks2d.numpy()
    left = lm[:, :, 0].mean(axis=1) < SIZE  # (T,) which person each frame's landmarks are on
    assert left.all() or (~left).all()  # one identity all the way
    truth = speaker.landmarks2d if left.all() else other.landmarks2d + np.array([SIZE, 0], np.float32)
    err = np.linalg.norm(lm - truth, axis=-1)  # (T, 68); the other face is 160 px away
    assert np.median(err, axis=1).max() < 4.0 and err.max() < 20.0
    assert report.multi_face_frames >= 10 and any("a second face was seen" in n for n in report.notes)


def test_a_larger_face_entering_later_does_not_take_over_at_a_block_boundary():
    """Blocks are tracked independently; one that starts with a bigger second face in view must stay on the speaker."""
    from talkface_lite.data import synthetic

    needs_dlib()
    me = synthetic.generate_speaker(seconds=6, size=SIZE, seed=0, progress=False)
    other = synthetic.generate_speaker(seconds=6, size=256, seed=1, progress=False)  # a face ~1.7x as wide
    frames = np.empty((150, 256, 416, 3), np.uint8)
    frames[:] = me.frames[:, :1, :1]  # the speaker's background colour
    frames[:, 48:208, :SIZE] = me.frames
    frames[60:, :, SIZE:] = other.frames[60:]  # a closer person steps in at frame 60, before the block at 100
    tracking = prepare.track_landmarks(frames, workers=1, block=50, progress=False)
    centre_x = tracking.landmarks[:, :, 0].mean(axis=1)
    assert np.isfinite(centre_x).all() and centre_x.max() < SIZE  # the speaker in every block
    assert tracking.multi_face_frames >= 1
    truth = me.landmarks2d + np.array([0.0, 48.0], np.float32)
    assert np.median(np.linalg.norm(tracking.landmarks - truth, axis=-1), axis=1).max() < 4.0


def _tracking_error(path, rec, crf):
    """Encode ``rec`` to ``path`` at ``crf``, decode and track it: the (T,) mean landmark error per frame, px."""
    dec = video.decode(write_clip(path, rec.frames, rec.audio, crf=crf), progress=False)
    try:
        lm = prepare.track_landmarks(np.array(dec.frames), workers=1, progress=False).landmarks
    finally:
        dec.close()
    return np.linalg.norm(lm - rec.landmarks2d, axis=-1).mean(axis=1)


def test_tracked_landmarks_whose_shape_collapses_are_not_kept(tmp_path):
    """Seed 1 at 160 px: the tracker's predictor collapsed the face in 5 of 150 tracked frames (8-13 px off)."""
    from talkface_lite.data import synthetic
    from talkface_lite.data.video.face_detect import LandmarkTracker

    needs_dlib()
    rec = synthetic.generate_speaker(seconds=6, size=SIZE, seed=1, progress=False)
    err = _tracking_error(tmp_path / "s1.mp4", rec, crf=18)
    assert np.isfinite(err).all() and err.max() < 6.0 and np.median(err) < 3.0
    # the check itself: a similarity transform of the face costs nothing, a talking mouth is left out
    face = rec.landmarks2d[0].astype(np.float64)
    turned = 1.2 * face @ np.array([[0.96, -0.28], [0.28, 0.96]]).T + 7.0
    talking = face.copy()
    talking[48:] += np.array([0.0, 6.0])
    collapsed = face.copy()
    collapsed[:17] = collapsed[:17].mean(axis=0)  # the jaw line folded onto one point
    assert LandmarkTracker.shape_change(face, turned) < 1e-9 and LandmarkTracker.shape_change(face, talking) < 1e-9
    assert LandmarkTracker.shape_change(face, collapsed) > 0.05


def test_tracked_landmarks_that_slide_off_the_face_are_not_kept(tmp_path):
    """Seed 5 at 192 px: tracked landmarks slid down and shrank over 2-3 frames (up to 19 px off, 76 px wide for 104)."""
    from talkface_lite.data import synthetic

    needs_dlib()
    rec = synthetic.generate_speaker(seconds=6, size=192, seed=5, progress=False, gaze=True)
    err = _tracking_error(tmp_path / "s5.mp4", rec, crf=23)
    assert np.isfinite(err).all() and err.max() < 10.0 and np.median(err) < 4.0


# ----------------------------------------------------------------------------- 3./4. audio that does not match
def test_audio_track_shorter_than_the_video_is_padded_and_said(speaker, tmp_path):
    clip = write_clip(tmp_path / "short_audio.mp4", speaker.frames, speaker.audio[: int(2.5 * 16000)])
    report = prepare.prepare_video(clip, tmp_path / "spk", workers=1, progress=False)
    assert report.frames_without_audio == 37  # 2.5 s of sound cover frames 0-62 of 100
    assert report.audio_padded_seconds == pytest.approx(1.5, abs=0.03)
    assert any("ends 1.5" in n and "the last 37 frames have no speech" in n for n in report.notes)
    d = ds.load_dataset(tmp_path / "spk")
    assert len(d.audio()) == 100 * 640  # the audio is the length of the frames
    feats = d.features("mel").numpy()  # (100, 16, 80)
    assert feats.shape[0] == 100 and np.allclose(feats[75:], feats[99])  # silence after the speech ended
    meta = json.loads((tmp_path / "spk" / "meta.json").read_text())["extra"]["prepare"]
    assert meta["frames_without_audio"] == 37 and meta["audio_padded_seconds"] > 1.4


def test_longer_audio_is_trimmed_to_the_video(speaker, tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", speaker.frames, speaker.audio)
    long = audio.save_wav(tmp_path / "ten.wav", np.tile(speaker.audio, 3)[: 10 * 16000])
    report = prepare.prepare_video(clip, tmp_path / "spk", audio_path=long, workers=1, progress=False)
    assert report.audio_trimmed_seconds == pytest.approx(6.0, abs=0.03) and report.audio_seconds == pytest.approx(10.0)
    assert any("6.00 s longer than the video" in n for n in report.notes)
    assert len(ds.load_dataset(tmp_path / "spk").audio()) == 100 * 640


def test_file_whose_audio_track_outlasts_the_video_is_not_called_truncated(speaker, tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", speaker.frames, np.tile(speaker.audio, 3)[: 10 * 16000])
    report = prepare.prepare_video(clip, tmp_path / "spk", workers=1, progress=False)
    assert report.n_frames == 100 and report.audio_trimmed_seconds == pytest.approx(6.0, abs=0.05)
    assert not any("truncated" in n for n in report.notes)
    assert any("video track (4.00 s) is shorter than the file's audio track" in n for n in report.notes)


def test_audio_covering_too_few_frames_is_refused_before_decoding(speaker, tmp_path, monkeypatch, capsys):
    clip = write_clip(tmp_path / "clip.mp4", speaker.frames, speaker.audio)
    short = audio.save_wav(tmp_path / "short.wav", speaker.audio[: int(1.5 * 16000)])
    no_decoding(monkeypatch)
    assert cli(["prepare", str(clip), str(tmp_path / "spk"), "--audio", str(short), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "lasts 1.50 s but clip.mp4 4.00 s: 62 of 100 frames would have no speech" in err
    assert not (tmp_path / "spk").exists()


@pytest.mark.parametrize("where", ["track", "--audio"])
def test_silent_audio_is_refused_like_a_missing_track(speaker, tmp_path, monkeypatch, capsys, where):
    silent = np.zeros_like(speaker.audio)
    if where == "track":
        clip, extra = write_clip(tmp_path / "muted.mp4", speaker.frames, silent), []
    else:
        clip = write_clip(tmp_path / "clip.mp4", speaker.frames, speaker.audio)
        extra = ["--audio", str(audio.save_wav(tmp_path / "zeros.wav", silent))]
    no_decoding(monkeypatch)
    assert cli(["prepare", str(clip), str(tmp_path / "spk"), "--quiet", *extra]) == 2
    err = capsys.readouterr().err
    assert "is silent (peak -inf dBFS" in err and "--audio speech.wav" in err
    assert not (tmp_path / "spk").exists()


# ----------------------------------------------------------------------------- 5. OpenFace CSV that ends early
def test_openface_csv_ending_early_is_filled_by_our_estimate(speaker, tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", speaker.frames, speaker.audio)
    csv = tmp_path / "of.csv"  # OpenFace's AU45 = the truth, but the CSV stops 0.8 s early (frames 80-99 absent)
    csv.write_text(
        "frame, timestamp, success, AU45_r\n"
        + "".join(f"{i + 1}, {i / 25:.3f}, 1, {speaker.au45[i]:.4f}\n" for i in range(80))
    )
    report = prepare.prepare_video(clip, tmp_path / "spk", openface_csv=csv, workers=1, progress=False)
    assert report.au45_estimated_frames == 20
    assert any("no AU45 for 20 of 100 frames (3.20-4.00 s)" in n and "own AU45 estimate" in n for n in report.notes)
    au = ds.load_dataset(tmp_path / "spk").au45.numpy()
    assert np.allclose(au[:80], np.clip(speaker.au45[:80], 0, 5), atol=1e-3)  # CSV frames kept as they are
    assert not np.allclose(au[80:], au[79])  # not the last value repeated ...
    true_late = [tuple(b[:2]) for b in detect_blinks(speaker.au45) if b[0] >= 80]
    assert len(true_late) == 1  # ... the blink at 3.42 s (frames 85-93) is still there
    assert any(a <= true_late[0][1] and b >= true_late[0][0] for a, b in report.blinks if a >= 80)


# ----------------------------------------------------------------------------- 6./8. imports, checked first
@pytest.mark.parametrize("layout", ["deepspeech", "hubert"])
def test_transposed_feature_layouts_are_read_with_a_note(speaker, tmp_path, layout):
    rng = np.random.default_rng(0)
    right = rng.normal(size=(100, 16, 29) if layout == "deepspeech" else (100, 2, 1024)).astype(np.float32)
    npy = tmp_path / "feats.npy"
    np.save(npy, np.swapaxes(right, 1, 2))  # (T, 29, 16) / (T, 1024, 2)
    with pytest.warns(audio.AudioAdjustmentWarning, match="last two axes swapped"):
        got = audio.load_feature_array(npy, n_frames=100)
    expected = right if layout == "deepspeech" else audio.load_feature_array(right, n_frames=100)
    assert np.array_equal(got, expected)
    clip = write_clip(tmp_path / "clip.mp4", speaker.frames, speaker.audio)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", audio.AudioAdjustmentWarning)
        prepare.prepare_video(clip, tmp_path / "spk", import_features={layout: npy}, workers=1, progress=False)
    assert np.array_equal(ds.load_dataset(tmp_path / "spk").features(layout).numpy(), expected)


def test_inputs_are_checked_before_decoding(speaker, tmp_path, monkeypatch, capsys):
    clip = write_clip(tmp_path / "clip.mp4", speaker.frames, speaker.audio)
    np.save(tmp_path / "ds.npy", np.ones((100, 16, 29), np.float32))
    np.save(tmp_path / "ds_other.npy", np.ones((60, 16, 29), np.float32))
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("frame, timestamp, AU12_r\n1, 0.0, 1.0\n")
    no_decoding(monkeypatch)
    out = str(tmp_path / "spk")
    cases = [
        (["--openface-csv", str(bad_csv)], "has no AU45_r column"),
        (
            ["--import-features", f"deepspeech={tmp_path / 'ds_other.npy'}"],
            "ds_other.npy covers 60 video frames but the video has 100",
        ),
        (
            [
                "--import-features",
                f"deepspeech={tmp_path / 'ds.npy'}",
                "--import-features",
                f"deepspeech={tmp_path / 'ds_other.npy'}",
            ],
            "gives 'deepspeech' twice",
        ),
        (["--import-features", f"mel={tmp_path / 'ds.npy'}"], "a kind this dataset computes itself"),
        (["--import-features", f"Deep Speech={tmp_path / 'ds.npy'}"], "must be a short lowercase name"),
        (["--val-fraction", "1.5"], "val_fraction must be in [0, 1)"),
        (["--focal", "-3"], "focal must be a positive focal length"),
    ]
    for args, message in cases:
        assert cli(["prepare", str(clip), out, "--quiet", *args]) == 2, args
        assert message in capsys.readouterr().err, args
    assert not (tmp_path / "spk").exists()


# ----------------------------------------------------------------------------- 7. a run that was killed
def test_leftovers_of_a_killed_prepare_are_removed_by_the_next_run(speaker, tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", np.repeat(speaker.frames, 3, axis=0), np.tile(speaker.audio, 3))
    out = tmp_path / "spk"
    code = (
        "import sys; from talkface_lite.data.video.prepare import prepare_video; "
        f"prepare_video({str(clip)!r}, {str(out)!r}, workers=1, progress=False)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 120
    store = []
    while time.time() < deadline and not store:
        store = [p for p in tmp_path.glob(f"{leftovers.DECODE_PREFIX}*/frames.u8") if p.stat().st_size > 0]
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # killed while decoding or tracking
    proc.wait()
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert left and all(str(proc.pid) in name for name in left)  # what a kill leaves: named by its process
    report = prepare.prepare_video(clip, out, workers=1, progress=False)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert any(f"removed {left[0]}" in n and f"killed (pid {proc.pid})" in n for n in report.notes)


def test_clean_leftovers_restores_a_dataset_whose_replacement_was_killed(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # a pid that no longer runs
    old = tmp_path / f".spk.old-{proc.pid}"
    old.mkdir()
    (old / "meta.json").write_text("{}")
    running = tmp_path / f".spk.tmp-{os.getppid()}"  # a live process's folder is named, not touched
    running.mkdir()
    notes = leftovers.clean_leftovers(tmp_path, "spk")
    assert (tmp_path / "spk" / "meta.json").read_text() == "{}" and not old.exists() and running.is_dir()
    assert notes == [
        f"restored the dataset spk from .spk.old-{proc.pid}: a run replacing it was killed (pid {proc.pid})",
        f".spk.tmp-{os.getppid()} belongs to a run still going (pid {os.getppid()}); left alone",
    ]


def test_late_audio_stream_is_kept_at_its_time_and_every_adjustment_is_in_the_report(speaker, tmp_path):
    plain = write_clip(tmp_path / "plain.mp4", speaker.frames, speaker.audio)
    late = tmp_path / "late.mp4"  # the same audio track, starting 0.5 s into the file (an export with an offset)
    ffmpeg(
        "-i",
        str(plain),
        "-itsoffset",
        "0.5",
        "-i",
        str(plain),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c",
        "copy",
        "-t",
        "4",
        str(late),
    )
    ds_feats = tmp_path / "ds.npy"
    np.save(ds_feats, np.ones((98, 16, 29), np.float32))  # two windows short: padded, with a note
    report = prepare.prepare_video(
        late, tmp_path / "spk", import_features={"deepspeech": ds_feats}, workers=1, progress=False
    )
    assert any(
        n.startswith("the audio stream starts 0.4") or n.startswith("the audio stream starts 0.5") for n in report.notes
    )
    assert any("repeated the last window 2 time(s)" in n and "ds.npy" in n for n in report.notes)
    got = ds.load_dataset(tmp_path / "spk").audio()
    lag = int(np.argmax(np.abs(got) > 0.05)) - int(np.argmax(np.abs(speaker.audio) > 0.05))
    assert abs(lag - 8000) < 400  # the speech plays 0.5 s later, as in a player (AAC priming: a few ms)
    meta = json.loads((tmp_path / "spk" / "meta.json").read_text())["extra"]["prepare"]
    assert meta["notes"] == report.notes


def test_openface_csv_of_another_clip_and_folders_are_refused_before_decoding(speaker, tmp_path, monkeypatch, capsys):
    clip = write_clip(tmp_path / "clip.mp4", speaker.frames, speaker.audio)
    csv = tmp_path / "other.csv"
    csv.write_text(
        "frame, timestamp, success, AU45_r\n" + "".join(f"{i}, {10 + i / 25:.3f}, 1, 0.1\n" for i in range(150))
    )
    no_decoding(monkeypatch)
    assert cli(["prepare", str(clip), str(tmp_path / "spk"), "--openface-csv", str(csv), "--quiet"]) == 2
    assert "covers 10.00-15.96 s but clip.mp4 lasts 4.00 s: was it made from this clip?" in capsys.readouterr().err
    assert cli(["prepare", str(tmp_path), str(tmp_path / "spk"), "--quiet"]) == 2
    assert "is a folder, not a video file" in capsys.readouterr().err
    assert not (tmp_path / "spk").exists()


def test_more_inputs_refused_before_decoding(speaker, tmp_path, monkeypatch, capsys):
    clip = write_clip(tmp_path / "clip.mp4", speaker.frames, speaker.audio)
    np.save(tmp_path / "hu.npy", np.ones((100, 2, 1024), np.float32))
    np.save(tmp_path / "cplx.npy", np.ones((100, 16, 29), np.complex64))
    no_decoding(monkeypatch)
    out = str(tmp_path / "spk")
    cases = [
        (
            ["--import-features", f"deepspeech={tmp_path / 'hu.npy'}"],
            "has D=1024 (hubert) features per step, but "
            "deepspeech features have 29: import it under the kind it is (e.g. hubert=",
        ),
        (["--import-features", f"mine={tmp_path / 'cplx.npy'}"], "holds complex64 values"),
        (["--features", ""], "no audio features to store"),
    ]
    for args, message in cases:
        assert cli(["prepare", str(clip), out, "--quiet", *args]) == 2, args
        assert message in capsys.readouterr().err, args
    assert not (tmp_path / "spk").exists()


def test_a_run_that_loses_the_race_to_the_same_folder_says_so(tmp_path, monkeypatch):
    from speaker_fixtures import toy_recording

    out = tmp_path / "spk"
    real = ds._write_frames

    def other_run_finishes_first(rec, tmp, progress):  # another process writes the same folder meanwhile
        code = (
            "import sys; sys.path.insert(0, %r); from speaker_fixtures import toy_recording; "
            "from talkface_lite.data import dataset; dataset.write_dataset(toy_recording(T=6, seed=1), %r, "
            "progress=False)" % (str(Path(__file__).parent), str(out))
        )
        subprocess.run([sys.executable, "-c", code], check=True)
        return real(rec, tmp, progress)

    monkeypatch.setattr(ds, "_write_frames", other_run_finishes_first)
    with pytest.raises(FileExistsError, match="was written by another run while this one was working"):
        ds.write_dataset(toy_recording(T=6), out, progress=False)
    assert ds.load_dataset(out).n_frames == 6 and sorted(p.name for p in tmp_path.iterdir()) == ["spk"]


def test_audio_that_is_only_an_offset_is_silent_and_an_offset_under_speech_is_removed(
    speaker, tmp_path, monkeypatch, capsys
):
    clip = write_clip(tmp_path / "clip.mp4", speaker.frames, speaker.audio)
    dc_only = audio.save_wav(tmp_path / "dc_only.wav", np.full(len(speaker.audio), 0.5, np.float32))
    with_dc = audio.save_wav(tmp_path / "with_dc.wav", 0.4 * speaker.audio + 0.5)
    with pytest.warns(
        audio.AudioAdjustmentWarning, match=r"constant offset of \+0\.5 \(DC\) under the signal; removed"
    ):
        back = audio.load_audio(with_dc)
    assert abs(float(back.mean())) < 0.01 and np.corrcoef(back, speaker.audio)[0, 1] > 0.99
    no_decoding(monkeypatch)
    assert cli(["prepare", str(clip), str(tmp_path / "spk"), "--quiet", "--audio", str(dc_only)]) == 2
    assert "is silent (peak" in capsys.readouterr().err
    silent_video = write_clip(tmp_path / "mute.mp4", speaker.frames)
    assert cli(["prepare", str(clip), str(tmp_path / "spk"), "--quiet", "--audio", str(silent_video)]) == 2
    assert f"--audio {silent_video} has no audio stream: give a file with the speech" in capsys.readouterr().err
    (tmp_path / "text.npy").write_text("0.1, 0.2\n")
    assert (
        cli(
            [
                "prepare",
                str(clip),
                str(tmp_path / "spk"),
                "--quiet",
                "--import-features",
                f"deepspeech={tmp_path / 'text.npy'}",
            ]
        )
        == 2
    )
    assert "is not a .npy file (no numpy header)" in capsys.readouterr().err
    assert not (tmp_path / "spk").exists()
