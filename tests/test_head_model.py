"""Tests for talkface_lite.data.synthetic.head_model: the deformable head and its landmarks."""

import numpy as np
import pytest

from talkface_lite import landmarks as L
from talkface_lite.data.synthetic import head_render as hr
from talkface_lite.data.synthetic.head_model import FaceLayout, FaceState, HeadModel


@pytest.fixture(scope="module")
def model():
    return HeadModel(FaceLayout(), step=0.03)


def test_neutral_landmarks_follow_the_ibug_layout(model):
    lm = model.landmarks(FaceState())
    assert lm.shape == (68, 3)
    assert lm[L.RIGHT_EYE, 0].max() < 0 < lm[L.LEFT_EYE, 0].min()  # subject's right eye at x < 0
    assert np.argmin(lm[:, 1]) in (7, 8, 9)  # the chin is lowest
    assert np.argmax(lm[:, 2]) == 30  # the nose tip sticks out most
    # image-left to image-right order within each eye: 36 < 39 and 42 < 45 in x
    assert lm[36, 0] < lm[39, 0] < lm[42, 0] < lm[45, 0]
    # the default layout is mirror-symmetric
    mirror = np.r_[
        16:-1:-1,
        26:16:-1,
        27:31,
        35:30:-1,
        [45, 44, 43, 42, 47, 46],
        [39, 38, 37, 36, 41, 40],
        54:47:-1,
        59:54:-1,
        64:59:-1,
        67:64:-1,
    ]
    np.testing.assert_allclose(lm[mirror] * [-1, 1, 1], lm, atol=2e-3)


def test_jaw_opens_the_mouth_and_lids_close_the_eyes(model):
    openings = [L.mouth_opening(model.landmarks(FaceState(jaw=j))) for j in (0.0, 0.5, 1.0)]
    assert openings[0] < 0.01 < openings[1] < openings[2]
    # about 1.5 dm from the hinge, 0.16 rad of jaw rotation drops the lower lip by ~0.15-0.25 dm
    assert 0.1 < openings[2] < 0.3
    ear_open = L.eye_aspect_ratio(model.landmarks(FaceState())).mean()
    ear_shut = L.eye_aspect_ratio(model.landmarks(FaceState(close_left=1, close_right=1))).mean()
    assert 0.2 < ear_open < 0.45 and ear_shut < 0.03
    # the upper lip does not move with the jaw; the chin does
    a, b = model.landmarks(FaceState()), model.landmarks(FaceState(jaw=1.0))
    assert np.linalg.norm(a[51] - b[51]) < 1e-6 and b[8, 1] < a[8, 1] - 0.05


def test_spread_and_rounding_move_the_mouth_corners(model):
    width = lambda st: np.linalg.norm(model.landmarks(st)[54] - model.landmarks(st)[48])  # noqa: E731
    assert width(FaceState(spread=1.0)) > width(FaceState()) > width(FaceState(round=1.0))
    assert model.landmarks(FaceState(round=1.0))[51, 2] > model.landmarks(FaceState())[51, 2]


def test_jaw_landmarks_sit_on_the_frontal_silhouette(model):
    size = 128
    k = hr.intrinsics_for(size)
    c2w = hr.camera_pose()
    rng = np.random.default_rng(0)
    look = hr.Appearance.create(model, size, rng, tex_width=256)
    _, depth = hr.render_frame(model, FaceState(), c2w, k, size, look, return_depth=True)
    inside = np.isfinite(depth)
    px = hr.project_points(model.landmarks(FaceState()), c2w, k)
    for x, y in np.r_[px[1:6], px[11:16]]:  # cheek points of the contour, where the background borders the face
        c, r = int(x), int(y)
        window = inside[max(r - 2, 0) : r + 3, max(c - 2, 0) : c + 3]
        assert window.any() and not window.all(), f"jaw landmark at ({x:.1f}, {y:.1f}) is not on the outline"


def test_random_layouts_are_valid_faces():
    for seed in range(3):
        m = HeadModel(FaceLayout.random(np.random.default_rng(seed)), step=0.03)
        lm = m.landmarks(FaceState())
        assert np.isfinite(lm).all()
        assert 0.2 < L.eye_aspect_ratio(lm).mean() < 0.45
