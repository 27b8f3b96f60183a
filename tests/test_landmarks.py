"""Tests for talkface_lite.landmarks: the 68-point convention and measurements."""

import numpy as np
import pytest

from talkface_lite import landmarks as L


def _eye_landmarks(width=4.0, height=2.0):
    """A (68, 2) array whose eyes are hand-made: corners `width` apart, lids `height` apart."""
    lm = np.zeros((68, 2))
    for start, x0 in ((36, 0.0), (42, 10.0)):
        lm[start + 0] = (x0, 0.0)
        lm[start + 1] = (x0 + 1.0, -height / 2)
        lm[start + 2] = (x0 + 3.0, -height / 2)
        lm[start + 3] = (x0 + width, 0.0)
        lm[start + 4] = (x0 + 3.0, height / 2)
        lm[start + 5] = (x0 + 1.0, height / 2)
    return lm


def test_region_index_ranges_match_the_ibug_convention():
    assert L.JAW == tuple(range(17)) and L.BROWS == tuple(range(17, 27))
    assert L.NOSE[0] == 27 and L.NOSE[-1] == 35
    assert L.RIGHT_EYE == tuple(range(36, 42)) and L.LEFT_EYE == tuple(range(42, 48))
    assert L.OUTER_LIPS == tuple(range(48, 60)) and L.INNER_LIPS == tuple(range(60, 68))
    assert len(L.MOUTH) == 20
    # the named regions partition 0..67
    parts = L.JAW + L.BROWS + L.NOSE + L.EYES + L.MOUTH
    assert sorted(parts) == list(range(68))


def test_eye_aspect_ratio_hand_computed():
    # vertical distances 2 + 2, horizontal 4: EAR = 4 / 8 = 0.5
    ear = L.eye_aspect_ratio(_eye_landmarks(width=4.0, height=2.0))
    np.testing.assert_allclose(ear, [0.5, 0.5])
    # closed lids: EAR 0; batched input keeps the leading shape
    batch = np.stack([_eye_landmarks(height=2.0), _eye_landmarks(height=0.0)])
    np.testing.assert_allclose(L.eye_aspect_ratio(batch), [[0.5, 0.5], [0.0, 0.0]])


def test_au45_is_zero_open_five_closed_and_linear_between():
    ear = np.array([0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.045, 0.1725])
    au = L.au45_from_ear(ear)  # baseline = 90th percentile = 0.3, closed = 0.15 * 0.3 = 0.045
    np.testing.assert_allclose(au[:10], 0.0)
    np.testing.assert_allclose(au[10], 5.0)
    np.testing.assert_allclose(au[11], 2.5)  # halfway between open and closed
    # explicit baseline, (T, 2) input averaged per frame
    au2 = L.au45_from_ear(np.array([[0.2, 0.2], [0.03, 0.03]]), open_baseline=0.2)
    np.testing.assert_allclose(au2, [0.0, 5.0])


def test_au45_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        L.au45_from_ear(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        L.au45_from_ear(np.array([0.3, np.nan]))
    with pytest.raises(ValueError, match="baseline"):
        L.au45_from_ear(np.array([0.3]), open_baseline=0.0)


def test_mouth_opening_and_lmd_hand_computed():
    lm = np.zeros((2, 68, 2))
    lm[1, [65, 66, 67], 1] = 3.0  # lower inner lip 3 px below the upper one
    np.testing.assert_allclose(L.mouth_opening(lm), [0.0, 3.0])
    # a pure translation does not change LMD (mean-centring per frame)
    gt = np.random.default_rng(0).normal(size=(4, 68, 2))
    assert L.lmd(gt + [5.0, -2.0], gt) == pytest.approx(0.0, abs=1e-12)
    # moving one mouth landmark by 20 px (of 20 mouth points): centring shifts all by 1,
    # so the moved one is 19 px off and the others 1 px: mean = (19 + 19 * 1) / 20
    pred = gt.copy()
    pred[:, 48, 0] += 20.0
    assert L.lmd(pred, gt, "mouth") == pytest.approx((19 + 19) / 20)
    with pytest.raises(ValueError, match="same shape"):
        L.lmd(gt[:2], gt)
    with pytest.raises(ValueError, match="unknown landmark region"):
        L.lmd(gt, gt, region="ears")


def test_procrustes_recovers_a_similarity_transform():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(68, 3))
    ang = 0.4
    rot = np.array([[np.cos(ang), 0, np.sin(ang)], [0, 1, 0], [-np.sin(ang), 0, np.cos(ang)]])
    dst = 2.5 * src @ rot.T + [1.0, -2.0, 0.5]
    aligned, r, s, t = L.procrustes_align(src, dst)
    np.testing.assert_allclose(aligned, dst, atol=1e-9)
    np.testing.assert_allclose(r, rot, atol=1e-9)
    assert s == pytest.approx(2.5)
    np.testing.assert_allclose(t, [1.0, -2.0, 0.5], atol=1e-9)
    # a reflection is never returned
    _, r2, _, _ = L.procrustes_align(src, src * [-1, 1, 1])
    assert np.linalg.det(r2) == pytest.approx(1.0)


def test_center_removes_the_region_mean():
    lm = np.random.default_rng(2).normal(size=(3, 68, 3))
    np.testing.assert_allclose(L.center(lm).mean(axis=-2), 0.0, atol=1e-12)
    np.testing.assert_allclose(L.center(lm, "mouth")[:, 48:68].mean(axis=-2), 0.0, atol=1e-12)


def test_template_follows_the_documented_head_frame():
    t = L.template_3d()
    assert t.shape == (68, 3)
    # subject's right eye is on the image left (negative x), chin is the lowest point,
    # the nose tip is the most forward point, and the face is mirror-symmetric
    assert t[36:42, 0].max() < 0 < t[42:48, 0].min()
    assert np.argmin(t[:, 1]) == 8
    assert np.argmax(t[:, 2]) == 30
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
    np.testing.assert_allclose(t[mirror] * [-1, 1, 1], t, atol=1e-9)
    # an open eye and a closed mouth
    assert 0.2 < L.eye_aspect_ratio(t).mean() < 0.4
    assert L.mouth_opening(t) < 0.02


def test_bad_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match="68"):
        L.eye_aspect_ratio(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="within 0..67"):
        L.region_indices([70])
