"""Tests for talkface_lite.data.video: probing, refusing bad files, 25 fps resampling, downscaling, damage."""

import subprocess

import numpy as np
import pytest

from talkface_lite.data.video import codec as video


def ffmpeg(*args):
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *args], check=True)


def make_clip(path, size="64x48", rate=25, seconds=1.0, audio=True, extra=()):
    """A test-pattern clip (moving gradient) with an optional 220 Hz tone."""
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=220:duration={seconds}", "-c:a", "aac"]
    ffmpeg(*args, "-pix_fmt", "yuv420p", "-c:v", "libx264", "-g", "10", *extra, str(path))
    return path


def test_probe_reads_the_header(tmp_path):
    info = video.probe(make_clip(tmp_path / "a.mp4", size="80x60", rate=30, seconds=2.0))
    assert (info.width, info.height) == (80, 60)
    assert info.fps == pytest.approx(30.0) and info.duration == pytest.approx(2.0, abs=0.05)
    assert info.has_audio and info.codec == "h264"
    assert info.expected_frames == 50  # 2 s at 25 fps
    assert not video.probe(make_clip(tmp_path / "b.mp4", audio=False)).has_audio


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        video.probe(tmp_path / "nope.mp4")


def test_not_a_video(tmp_path):
    txt = tmp_path / "notes.mp4"
    txt.write_text("hello, I am a text file with a video name\n" * 20)
    with pytest.raises(video.VideoError, match="not a video ffmpeg can read"):
        video.probe(txt)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(video.VideoError, match="empty"):
        video.probe(empty)
    wav = tmp_path / "speech.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=200:duration=0.5", str(wav))
    with pytest.raises(video.VideoError, match="no video stream"):
        video.probe(wav)


def test_truncated_mp4_is_refused(tmp_path):
    clip = make_clip(tmp_path / "full.mp4", seconds=2.0)  # ffmpeg writes the index (moov) at the end
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(video.VideoError, match="corrupt/truncated"):
        video.probe(cut)


def test_truncated_faststart_mp4_decodes_what_is_there(tmp_path):
    clip = make_clip(tmp_path / "fs.mp4", size="64x48", seconds=4.0, audio=False, extra=("-movflags", "+faststart"))
    data = clip.read_bytes()
    cut = tmp_path / "fs_cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.5)])  # index intact, second half of the packets gone
    dec = video.decode(cut, progress=False)
    try:
        assert 10 < dec.n_frames < 100
        assert dec.truncated_frames == 100 - dec.n_frames
        assert any("truncated" in n for n in dec.notes())
    finally:
        dec.close()


def test_resampled_to_25_fps_and_reported(tmp_path):
    clip = make_clip(tmp_path / "30.mp4", rate=30, seconds=2.0)
    dec = video.decode(clip, progress=False)
    try:
        assert dec.n_frames == 50  # 60 frames at 30 fps -> 2 s at 25 fps
        assert dec.frames.shape == (50, 48, 64, 3) and dec.frames.dtype == np.uint8
        assert any("30 fps resampled to 25 fps" in n for n in dec.notes())
    finally:
        dec.close()
    dec = video.decode(make_clip(tmp_path / "25.mp4", rate=25, seconds=1.0), progress=False)
    try:
        assert dec.n_frames == 25 and dec.notes() == []
    finally:
        dec.close()


def test_large_resolution_is_downscaled_with_a_message(tmp_path):
    assert video.output_size(1920, 1080, 512) == (512, 288)
    assert video.output_size(1000, 3000, 512) == (170, 512)
    assert video.output_size(320, 240, 512) == (320, 240)
    clip = make_clip(tmp_path / "big.mp4", size="1600x1200", seconds=0.2, audio=False)
    dec = video.decode(clip, max_size=256, progress=False)
    try:
        assert dec.frames.shape[1:] == (192, 256, 3)
        assert any("1600x1200 downscaled to 256x192" in n for n in dec.notes())
    finally:
        dec.close()


def test_frames_are_the_decoded_pixels(tmp_path):
    # a constant-colour clip decodes to that colour (within YUV rounding)
    clip = tmp_path / "red.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=0xC83214:s=32x32:r=25:d=0.4",
        "-pix_fmt",
        "yuv444p",
        "-c:v",
        "libx264",
        "-qp",
        "0",
        str(clip),
    )
    dec = video.decode(clip, progress=False)
    try:
        assert dec.n_frames == 10
        assert np.abs(dec.frames[5].astype(int) - [200, 50, 20]).max() <= 3
        store = dec.workdir.name
    finally:
        dec.close()
    import os

    assert not os.path.exists(store)  # the frame store is deleted


def test_corrupt_packets_are_concealed_and_counted(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", size="128x96", seconds=4.0, audio=False, extra=("-movflags", "+faststart"))
    data = bytearray(clip.read_bytes())
    rng = np.random.default_rng(0)
    for k in range(40):  # scribble over 40 spots of the packet data (the index at the front stays intact)
        pos = int(len(data) * 0.3) + k * (len(data) // 100)
        data[pos : pos + 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    dec = video.decode(bad, progress=False)
    try:
        assert dec.n_frames == 100  # every frame still comes out (ffmpeg conceals the damage)
        assert len(dec.corrupt_messages) > 0
        assert any("decoding errors concealed" in n for n in dec.notes())
    finally:
        dec.close()


@pytest.mark.parametrize("angle, turned", [(90, True), (180, False), (-90, True), (45, False)])
def test_display_rotation_is_applied_when_ffmpeg_can(tmp_path, angle, turned):
    """A white top-left square on a 48x32 frame: after the flag is applied it must be where a player shows it."""
    up = np.zeros((32, 48, 3), np.uint8)
    up[:8, :8] = 255
    raw = tmp_path / "f.rgb"
    raw.write_bytes(up.tobytes() * 25)
    ffmpeg(
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        "48x32",
        "-r",
        "25",
        "-i",
        str(raw),
        "-c:v",
        "libx264",
        "-qp",
        "0",
        "-pix_fmt",
        "yuv444p",
        str(tmp_path / "plain.mp4"),
    )
    ffmpeg("-display_rotation", str(angle), "-i", str(tmp_path / "plain.mp4"), "-c", "copy", str(tmp_path / "r.mp4"))
    info = video.probe(tmp_path / "r.mp4")
    assert abs(info.rotation) == abs(angle) and info.display_size == ((32, 48) if turned else (48, 32))
    dec = video.decode(tmp_path / "r.mp4", progress=False)
    try:
        frame = np.array(dec.frames[0])
        notes = dec.notes()
    finally:
        dec.close()
    # ffmpeg's display matrix turns the stored picture counter-clockwise by `angle` for display
    expected = {90: np.rot90(up, 1), -90: np.rot90(up, -1), 180: np.rot90(up, 2), 45: up}[angle]
    assert np.abs(frame.astype(int) - expected).mean() < 4
    if angle == 45:
        assert any("cannot apply (only multiples of 90): frames used as stored" in n for n in notes)
    else:
        assert any(f"display rotation {abs(angle) if abs(angle) == 180 else angle:g} degrees" in n for n in notes)
