"""Small hand-made speaker clips for the data tests (no synthesiser, no detector needed).

The face is the generic template of talkface_lite.landmarks projected by a
frontal camera with a slowly turning head; frames are a flat background with
the face polygon filled in skin colour, lips darker, eyes dark.
"""

import numpy as np

from talkface_lite import landmarks as L
from talkface_lite.data.dataset import SpeakerRecording
from talkface_lite.data.video import pose


def toy_poses(T, distance=6.0, yaw_deg=8.0):
    """Head-to-camera rotations (T, 3, 3) and translations (T, 3): a slow yaw sway."""
    yaw = np.radians(yaw_deg) * np.sin(np.linspace(0, 2 * np.pi, T))
    rv = np.stack([np.zeros(T), yaw, np.zeros(T)], 1)
    rot = pose.FRONTAL[None] @ pose.rodrigues(rv)
    trans = np.tile([0.0, 0.0, distance], (T, 1))
    return rot, trans


def toy_recording(T=12, size=(64, 80), seed=0, seconds=None):
    """A valid SpeakerRecording of T frames, H x W = size, with ground-truth geometry."""
    from PIL import Image, ImageDraw

    h, w = size
    rng = np.random.default_rng(seed)
    K = pose.default_intrinsics(h, w)
    rot, trans = toy_poses(T)
    tpl = L.template_3d()
    lm3d = np.repeat(tpl[None], T, axis=0)
    lm2d = pose.project_head(tpl, rot, trans, K)  # (T, 68, 2)
    bg = (rng.integers(0, 60, size=(h, w, 3)) + np.array([40, 90, 140])).clip(0, 255).astype(np.uint8)
    frames = np.empty((T, h, w, 3), np.uint8)
    for i in range(T):
        img = Image.fromarray(bg.copy())
        d = ImageDraw.Draw(img)
        d.polygon(
            [tuple(p) for p in lm2d[i, :17].tolist()] + [tuple(p) for p in lm2d[i, 26:16:-1].tolist()],
            fill=(220, 170, 140),
        )
        d.polygon([tuple(p) for p in lm2d[i, 48:60].tolist()], fill=(150, 40, 50))
        for eye in (slice(36, 42), slice(42, 48)):
            d.polygon([tuple(p) for p in lm2d[i, eye].tolist()], fill=(30, 30, 30))
        frames[i] = np.asarray(img)
    seconds = T / 25.0 if seconds is None else seconds
    t = np.arange(int(seconds * 16000)) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2).astype(np.float32)
    return SpeakerRecording(
        frames=frames,
        audio=audio,
        intrinsics=K,
        poses=pose.head_to_c2w(rot, trans),
        landmarks=lm3d,
        landmarks2d=lm2d,
        au45=np.zeros(T),
        fps=25.0,
        background=bg,
        near=4.0,
        far=8.0,
        source="test:toy",
        extra={"seed": seed},
    )
