"""Tests for talkface_lite.data.video.pose: rotations, projection, batched PnP, smoothing, back-projection."""

import numpy as np
import pytest
from speaker_fixtures import toy_poses

from talkface_lite import landmarks as L
from talkface_lite.data.video import pose


def angle_deg(a, b):
    """Rotation angle between (T, 3, 3) rotations, degrees."""
    cos = (np.trace(np.swapaxes(a, -1, -2) @ b, axis1=-2, axis2=-1) - 1) / 2
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def test_rodrigues_hand_values():
    r = pose.rodrigues(np.array([0.0, 0.0, np.pi / 2]))  # 90 degrees about z: x -> y
    assert np.allclose(r @ [1, 0, 0], [0, 1, 0])
    assert np.allclose(pose.rodrigues(np.zeros(3)), np.eye(3))
    rv = np.array([[0.1, -0.2, 0.3], [1.0, 0.5, -0.7]])
    assert np.allclose(pose.rotation_to_rvec(pose.rodrigues(rv)), rv)


def test_frontal_projection_by_hand():
    K = pose.default_intrinsics(100, 200)  # f = 200, centre (100, 50)
    assert np.allclose(K, [[200, 0, 100], [0, 200, 50], [0, 0, 1]])
    # head frame y up -> image y down; a point 1 dm above the head origin at distance 5 dm (face at z = 0)
    uv = pose.project_head(np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]), pose.FRONTAL[None], np.array([[0, 0, 5.0]]), K)
    assert np.allclose(uv[0], [[100, 50 - 200 / 5], [100 + 200 / 5, 50]])
    c2w = pose.head_to_c2w(pose.FRONTAL[None], np.array([[0, 0, 5.0]]))
    assert np.allclose(c2w[0, :3, 3], [0, 0, 5])  # the camera sits 5 dm in front of the face (+z of the head)
    assert np.allclose(pose.project_c2w(np.array([[0.0, 1.0, 0.0]]), c2w, K), uv[:, :1])


def test_pnp_recovers_known_poses():
    tpl = L.template_3d()
    K = pose.default_intrinsics(256, 256)
    rng = np.random.default_rng(0)
    T = 40
    rv = rng.normal(scale=0.15, size=(T, 3))  # up to ~20 degrees of yaw/pitch/roll
    rot = pose.FRONTAL[None] @ pose.rodrigues(rv)
    trans = np.stack([rng.normal(scale=0.3, size=T), rng.normal(scale=0.3, size=T), 5 + rng.uniform(0, 2, T)], 1)
    uv = pose.project_head(tpl, rot, trans, K)
    r_est, t_est, rms = pose.solve_pnp(uv, K)
    assert angle_deg(r_est, rot).max() < 0.05 and np.abs(t_est - trans).max() < 1e-3 and rms.max() < 1e-3
    noisy = uv + rng.normal(scale=0.5, size=uv.shape)  # half-pixel detector noise
    r_est, t_est, rms = pose.solve_pnp(noisy, K)
    assert np.median(angle_deg(r_est, rot)) < 2.0 and 0.3 < np.median(rms) < 0.7
    with pytest.raises(ValueError, match=r"\(T, 68, 2\)"):
        pose.solve_pnp(uv[:, :60], K)


def test_smoothing_removes_jitter_and_keeps_constants():
    rot, trans = toy_poses(60)
    r_s, t_s = pose.smooth_poses(rot[:1].repeat(60, 0), trans, sigma=2)
    assert np.allclose(r_s, rot[:1]) and np.allclose(t_s, trans)
    rng = np.random.default_rng(1)
    jitter = pose.rodrigues(rng.normal(scale=0.02, size=(60, 3)))
    noisy = rot @ jitter
    r_s, _ = pose.smooth_poses(noisy, trans, sigma=2)
    assert angle_deg(r_s, rot).mean() < 0.6 * angle_deg(noisy, rot).mean()
    assert np.allclose(np.linalg.det(r_s), 1.0) and np.allclose(np.swapaxes(r_s, 1, 2) @ r_s, np.eye(3), atol=1e-9)


def test_backprojection_reprojects_exactly_and_keeps_template_depth():
    rot, trans = toy_poses(5)
    K = pose.default_intrinsics(128, 128)
    tpl = L.template_3d()
    lm2d = pose.project_head(tpl, rot, trans, K)
    lm2d[:, 62, 1] -= 3.0  # open the inner upper lip by 3 px
    lm3d = pose.backproject_landmarks(lm2d, rot, trans, K)
    assert np.allclose(pose.project_head(lm3d, rot, trans, K), lm2d, atol=1e-6)
    keep = np.r_[0:62, 63:68]
    assert np.allclose(lm3d[:, keep], tpl[keep], atol=1e-6)  # undisturbed points are the template
    assert (lm3d[:, 62, 1] > tpl[62, 1]).all()  # moved up (head y is up)
    near, far = pose.near_far(trans)
    assert near == pytest.approx(4.0) and far == pytest.approx(8.0)


def test_template_refinement_adapts_to_the_speaker():
    tpl = L.template_3d()
    face = tpl.copy()
    face[36:48, 0] *= 1.12  # this speaker's eyes sit 12 % further apart
    face[27:36, 1] -= 0.04 * np.arange(9) / 8  # and the nose is a little longer
    K = pose.default_intrinsics(256, 256)
    rng = np.random.default_rng(2)
    T = 60
    rot = pose.FRONTAL[None] @ pose.rodrigues(rng.normal(scale=0.12, size=(T, 3)))
    trans = np.tile([0.0, 0.0, 6.0], (T, 1)) + rng.normal(scale=0.2, size=(T, 3))
    uv = pose.project_head(face, rot, trans, K)
    r0, _, rms0 = pose.solve_pnp(uv, K)  # generic face: systematic error
    r1, _, rms1, learned = pose.estimate_poses(uv, K, refine=2, sigma=0)
    assert np.median(rms1) < 0.5 * np.median(rms0)
    assert angle_deg(r1, rot).mean() < angle_deg(r0, rot).mean()
    span = lambda f: np.linalg.norm(f[45] - f[36])  # noqa: E731
    assert span(learned) / span(tpl) > 1.05  # the learned face has wider-set eyes than the template
    a, b = learned[pose.RIGID], tpl[pose.RIGID]
    assert np.isclose(((a - a.mean(0)) ** 2).sum(), ((b - b.mean(0)) ** 2).sum())  # template units kept
