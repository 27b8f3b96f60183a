"""Decoding a real talking-head video: probing, 25 fps resampling, downscaling, corrupt-packet accounting.

Everything goes through the ffmpeg binary shipped with ``imageio-ffmpeg``
(no system ffmpeg, no PyAV, no OpenCV):

* :func:`probe` reads the container header (``ffmpeg -i``) and refuses what is
  not a usable video: a missing file, a file ffmpeg cannot open (not a video,
  or truncated so badly its index is gone), a file without a video stream.
* :func:`decode` streams RGB frames as a player shows them (a phone's display
  rotation and flip applied, non-square pixels stretched to the display
  aspect), resampled to 25 fps by ffmpeg's ``fps`` filter (frames are dropped
  or repeated at the nearest time stamp) and downscaled so the longer side is at most ``max_size`` (aspect kept; the
  decision for very large inputs is *downscale with a message*, not refuse).
  Frames go into a ``np.memmap`` so a 3-minute 512x512 clip (3.5 GB) does not
  have to fit in RAM. Decoding errors ffmpeg conceals (corrupt packets) are
  counted from its log, and a clip that ends early (a truncated file) is
  reported with the number of frames it lost.

The landmark, pose and dataset steps live in :mod:`talkface_lite.data.video.prepare`.

Explained in README.md, "Preparing your own video".
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np

from ...audio import ffmpeg_exe

TARGET_FPS = 25.0
MAX_SIZE = 512
#: ffmpeg log lines that mean a packet or frame could not be decoded cleanly
_CORRUPT = re.compile(
    r"error while decoding|corrupt|invalid nal|concealing|missing picture|"
    r"invalid data found|partial file|decode_slice|error splitting",
    re.I,
)


#: the filter that makes pixels square the way a player does: the shorter axis is stretched by the sample
#: aspect ratio ffmpeg settled on (stream or codec SAR), so nothing is thrown away
SQUARE_PIXELS = "scale='if(gt(sar,1),trunc(iw*sar/2)*2,iw)':'if(lt(sar,1),trunc(ih/sar/2)*2,ih)',setsar=1"


class VideoError(ValueError):
    """A video that cannot be used (the message says why and what to do)."""


@dataclasses.dataclass
class VideoInfo:
    """What the container header says about a file, and how a player displays its frames.

    ``width``/``height`` are the stored (coded) size; ``display_width``/``display_height``
    the size after the container's display rotation and sample aspect ratio, which is
    what :func:`decode` produces (before downscaling).
    """

    path: Path
    width: int
    height: int
    fps: float
    duration: float
    has_audio: bool
    codec: str
    rotation: float = 0.0  # display-matrix rotation in degrees, as ffmpeg prints it (0: none)
    sar: str = "1:1"  # sample (pixel) aspect ratio of the stream
    display_width: int = 0
    display_height: int = 0
    video_seconds: float = 0.0  # span of the video stream's packets (0: not measured)
    audio_seconds: float = 0.0  # span of the first audio stream's packets (0: none or not measured)
    audio_start: float = 0.0  # when the first audio stream starts, on the file's clock (s)

    def __post_init__(self):
        self.display_width = self.display_width or self.width
        self.display_height = self.display_height or self.height

    @property
    def expected_frames(self) -> int:
        """Frames at 25 fps over the header's duration (the longest stream; what an intact file holds)."""
        return int(round(self.duration * TARGET_FPS))

    @property
    def video_frames(self) -> int:
        """Frames at 25 fps over the video stream itself (a longer audio track does not count)."""
        return int(round(self.video_seconds * TARGET_FPS)) if self.video_seconds > 0 else self.expected_frames

    @property
    def display_size(self) -> Tuple[int, int]:
        """``(width, height)`` of the frames as displayed (rotation and pixel aspect applied)."""
        return self.display_width, self.display_height

    def geometry_notes(self) -> List[str]:
        """What changes between the stored and the displayed frame (for reports)."""
        out = []
        if self.rotation % 360:
            turned = (self.display_width, self.display_height) != (self.width, self.height)
            if self.rotation % 90:
                out.append(
                    f"the container asks for a display rotation of {self.rotation:g} degrees, which ffmpeg "
                    "cannot apply (only multiples of 90): frames used as stored. Re-export the clip upright"
                )
            else:
                angle = abs(self.rotation) if abs(self.rotation) == 180 else self.rotation
                out.append(
                    f"display rotation {angle:g} degrees (a phone's orientation flag) applied: frames "
                    f"stored {self.width}x{self.height} are used upright"
                    + (f" as {self.display_width}x{self.display_height}" if turned else "")
                )
        if self.sar not in ("1:1", "0:1"):
            out.append(
                f"non-square pixels (sample aspect ratio {self.sar}): frames stretched to the display aspect "
                f"{self.display_width}x{self.display_height}"
            )
        return out


def _rotate_args(rotation: float) -> List[str]:
    """ffmpeg input options: rotate by the display matrix only for multiples of 90 degrees."""
    return [] if rotation % 90 == 0 else ["-noautorotate"]


def _display_geometry(path: Path, rotation: float) -> Optional[Tuple[int, int]]:
    """Size of the first frame as ffmpeg's decoder + autorotation + :data:`SQUARE_PIXELS` produce it."""
    proc = subprocess.run(
        [
            ffmpeg_exe(),
            "-nostdin",
            "-v",
            "error",
            *_rotate_args(rotation),
            "-i",
            str(path),
            "-map",
            "0:v:0",
            "-frames:v",
            "1",
            "-vf",
            SQUARE_PIXELS,
            "-f",
            "image2pipe",
            "-c:v",
            "ppm",
            "-",
        ],
        capture_output=True,
    )
    head = proc.stdout[:32].split()
    if len(head) >= 3 and head[0] == b"P6":
        return int(head[1]), int(head[2])
    return None


def _stream_seconds(path: Path, stream: str, fps: float = 0.0) -> float:
    """Time span of one stream's packets (``"v"`` or ``"a"``), read without decoding.

    Video: packets over the stream's frame rate ``fps`` when known; otherwise (and for audio) the last
    time stamp ffmpeg reports.
    """
    proc = subprocess.run(
        [
            ffmpeg_exe(),
            "-nostdin",
            "-v",
            "quiet",
            "-i",
            str(path),
            "-map",
            f"0:{stream}:0",
            "-c",
            "copy",
            "-f",
            "null",
            "-progress",
            "pipe:1",
            "-",
        ],
        capture_output=True,
    )
    frames = re.findall(rb"frame=(\d+)", proc.stdout)
    if stream == "v" and fps > 0 and frames and int(frames[-1]) > 0:
        return int(frames[-1]) / fps
    stamps = re.findall(rb"out_time_us=(\d+)", proc.stdout)
    return int(stamps[-1]) / 1e6 if stamps and int(stamps[-1]) > 0 else 0.0


def probe(path: Union[str, os.PathLike]) -> VideoInfo:
    """Read a media file's header.

    Raises:
        FileNotFoundError: no such file.
        VideoError: ffmpeg cannot open it (not a video, corrupt or truncated index),
            or it has no video stream.
    """
    path = Path(path)
    if path.is_dir():
        raise VideoError(f"{path} is a folder, not a video file: give the clip itself (e.g. {path}/clip.mp4)")
    if not path.is_file():
        raise FileNotFoundError(f"video {path} does not exist (check the path; relative paths are from {Path.cwd()})")
    if path.stat().st_size == 0:
        raise VideoError(f"{path} is empty (0 bytes): the copy or download did not finish")
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True)
    log = proc.stderr.decode("utf-8", "replace")
    if "moov atom not found" in log or "Invalid data found when processing input" in log or "Input #0" not in log:
        last = [ln.strip() for ln in log.strip().splitlines() if ln.strip()]
        why = last[-1] if last else "unknown error"
        raise VideoError(
            f"{path} is not a video ffmpeg can read, or it is corrupt/truncated (ffmpeg: {why}). "
            "Play it to check; re-export or re-download it (an mp4 cut short loses its index)."
        )
    video = re.search(r"Stream #\d+:\d+.*?: Video: (\w+).*?(\d{2,5})x(\d{2,5})", log)
    if video is None:
        raise VideoError(f"{path} has no video stream (is it an audio file?). `prepare` needs a talking-head video.")
    rate = re.search(r"Stream #\d+:\d+.*?: Video:.*?([\d.]+) (?:fps|tbr)", log)
    dur = re.search(r"Duration: (\d+):(\d+):([\d.]+)", log)
    duration = int(dur.group(1)) * 3600 + int(dur.group(2)) * 60 + float(dur.group(3)) if dur else 0.0
    rotation = re.search(r"rotation of (-?[\d.]+) degrees", log)
    rotation = float(rotation.group(1)) if rotation else 0.0
    sar = re.search(r"Stream #\d+:\d+.*?: Video:.*?\[SAR (\d+:\d+) DAR", log)
    display = _display_geometry(path, rotation)
    width, height = int(video.group(2)), int(video.group(3))
    has_audio = re.search(r"Stream #\d+:\d+.*?: Audio:", log) is not None
    audio_start = re.search(r"Stream #\d+:\d+.*?: Audio:.*?, start (-?[\d.]+)", log)
    fps = float(rate.group(1)) if rate else 0.0
    return VideoInfo(
        path=path,
        codec=video.group(1),
        width=width,
        height=height,
        fps=fps,
        duration=duration,
        has_audio=has_audio,
        rotation=rotation,
        video_seconds=_stream_seconds(path, "v", fps),
        audio_seconds=_stream_seconds(path, "a") if has_audio else 0.0,
        audio_start=float(audio_start.group(1)) if audio_start else 0.0,
        sar=sar.group(1) if sar else "1:1",
        display_width=display[0] if display else width,
        display_height=display[1] if display else height,
    )


def output_size(width: int, height: int, max_size: int = MAX_SIZE) -> Tuple[int, int]:
    """``(width, height)`` scaled so the longer side is at most ``max_size`` (even numbers, aspect kept)."""
    if max_size <= 0:
        raise ValueError(f"max_size must be positive, got {max_size}")
    scale = min(1.0, max_size / max(width, height))
    if scale == 1.0:
        return width, height
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


@dataclasses.dataclass
class DecodedVideo:
    """Frames on disk (memmap) plus what happened while decoding."""

    frames: np.ndarray  # (T, H, W, 3) uint8 memmap
    info: VideoInfo
    size: Tuple[int, int]  # (width, height) after downscaling
    corrupt_messages: List[str]
    truncated_frames: int  # expected - decoded (>0: the file ended early)
    workdir: Optional[tempfile.TemporaryDirectory] = None

    @property
    def n_frames(self) -> int:
        return int(len(self.frames))

    def notes(self) -> List[str]:
        """Human-readable lines about display geometry, resampling, downscaling and damage.

        A header duration that only the audio track reaches is the audio's, not a sign that the video was
        cut short: a file counts as truncated when no stream's packets reach its header's duration.
        """
        out = self.info.geometry_notes()
        if abs(self.info.fps - TARGET_FPS) > 0.01:
            out.append(
                f"frame rate {self.info.fps:g} fps resampled to {TARGET_FPS:g} fps "
                f"(ffmpeg fps filter: frames dropped/repeated at the nearest time stamp)"
            )
        if self.size != self.info.display_size:
            out.append(
                f"resolution {self.info.display_width}x{self.info.display_height} downscaled to {self.size[0]}x{self.size[1]} "
                f"(longer side capped at max_size; pass a larger --max-size to keep more detail)"
            )
        if self.corrupt_messages:
            out.append(
                f"{len(self.corrupt_messages)} decoding errors concealed by ffmpeg (corrupt packets), "
                f"first: {self.corrupt_messages[0]}"
            )
        if self.truncated_frames > 1:
            reach = max(self.info.video_seconds, self.info.audio_seconds)
            if (
                reach
                and reach >= self.info.duration - 2 / TARGET_FPS
                and self.info.audio_seconds > self.info.video_seconds
            ):
                out.append(
                    f"the video track ({self.n_frames / TARGET_FPS:.2f} s) is shorter than the file's audio "
                    f"track ({self.info.audio_seconds:.2f} s)"
                )
            else:
                out.append(f"the file ended {self.truncated_frames} frames before its header's duration (truncated?)")
        return out

    def close(self) -> None:
        """Delete the frame store."""
        if self.workdir is not None:
            del self.frames
            self.workdir.cleanup()
            self.workdir = None


def decode(
    path: Union[str, os.PathLike],
    max_size: int = MAX_SIZE,
    fps: float = TARGET_FPS,
    workdir: Optional[Union[str, os.PathLike]] = None,
    progress: bool = True,
    info: Optional[VideoInfo] = None,
    prefix: str = ".talkface-decode-",
) -> DecodedVideo:
    """Decode a video to RGB frames at ``fps``, downscaled to at most ``max_size``.

    Args:
        path: the video.
        max_size: cap on the longer side in pixels.
        fps: output frame rate (25 for this package).
        workdir: where the temporary frame store goes (default: the system temp folder).
        progress: tqdm bar over frames.
        info: a :func:`probe` result to reuse.
        prefix: name prefix of the temporary frame-store folder (``prepare`` puts its pid in it, so the next
            run can remove the store of a killed one: :mod:`talkface_lite.data.leftovers`).

    Returns:
        :class:`DecodedVideo` whose ``frames`` is ``(T, H, W, 3)`` uint8.

    Raises:
        VideoError: nothing could be decoded.

    Explained in README.md, "Preparing your own video".
    """
    from ...progress import tqdm

    info = probe(path) if info is None else info
    w, h = output_size(*info.display_size, max_size)
    tmp = tempfile.TemporaryDirectory(prefix=prefix, dir=workdir)
    store = Path(tmp.name) / "frames.u8"
    log_path = Path(tmp.name) / "ffmpeg.log"
    frame_bytes = h * w * 3
    cmd = [
        ffmpeg_exe(),
        "-nostdin",
        "-v",
        "error",
        "-err_detect",
        "ignore_err",
        *_rotate_args(info.rotation),
        "-i",
        str(path),
        "-map",
        "0:v:0",
        "-vf",
        f"fps={fps:g},{SQUARE_PIXELS},scale={w}:{h}:flags=area",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]
    n = 0
    with open(log_path, "wb") as log, open(store, "wb") as sink:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, bufsize=frame_bytes * 4)
        bar = tqdm(total=info.video_frames or None, desc="decode", unit="frame", disable=not progress, leave=False)
        try:
            while True:
                buf = proc.stdout.read(frame_bytes)
                if len(buf) < frame_bytes:
                    break
                sink.write(buf)
                n += 1
                bar.update(1)
        finally:
            bar.close()
            proc.stdout.close()
            proc.wait()
    messages = [ln.strip() for ln in log_path.read_text(errors="replace").splitlines() if _CORRUPT.search(ln)]
    if n == 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()
        tmp.cleanup()
        raise VideoError(
            f"no frame of {path} could be decoded ({tail[-1] if tail else 'ffmpeg gave no reason'}); "
            "the file is corrupt or truncated: re-export or re-download it"
        )
    frames = np.memmap(store, dtype=np.uint8, mode="r", shape=(n, h, w, 3))
    return DecodedVideo(
        frames=frames,
        info=info,
        size=(w, h),
        corrupt_messages=messages,
        truncated_frames=max(0, info.expected_frames - n),
        workdir=tmp,
    )


__all__ = ["DecodedVideo", "MAX_SIZE", "TARGET_FPS", "VideoError", "VideoInfo", "decode", "output_size", "probe"]
