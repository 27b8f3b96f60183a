"""talkface_lite.metrics: PSNR, LPIPS, LMD (dlib), the sync expert's score and the labels, by hand.

FID has its own module and tests (tests/test_fid.py).
"""

import numpy as np
import pytest
import torch

from talkface_lite import metrics as M
from talkface_lite import weights
from talkface_lite.perceptual import LPIPS_NAME, STLPIPS_NAME


@pytest.fixture(scope="module")
def speaker(tmp_path_factory):
    """The 2 s, 128 px synthetic speaker (50 frames) and six of its frames."""
    from talkface_lite.data.dataset import load_dataset
    from talkface_lite.data.synthetic import cached_speaker

    ds = load_dataset(
        cached_speaker(seconds=2, size=128, seed=0, root=tmp_path_factory.mktemp("speaker"), progress=False)
    )
    idx = [0, 10, 20, 30, 40, 49]
    return ds, idx, np.stack([ds.frame(i) for i in idx])


# ------------------------------------------------------------------------------------------------ PSNR


def test_psnr_by_hand_full_frame_and_box():
    a = np.zeros((2, 10, 10, 3), np.float32)
    b = np.full_like(a, 0.1)  # MSE 0.01 everywhere -> 20 dB
    assert M.psnr(a, b) == pytest.approx(20.0, abs=1e-4)
    values, name = M.psnr_frames(a, b)
    np.testing.assert_allclose(values, [20.0, 20.0], atol=1e-4)
    assert name == M.PSNR_FULL_NAME
    # error 0.1 only inside a 5x4 box of frame 1 (20 of 100 pixels): full-frame MSE 0.002, box MSE 0.01
    b = a.copy()
    b[1, 2:6, 3:8] = 0.1
    boxes = np.array([[0, 0, 10, 10], [3, 2, 8, 6]])
    full, _ = M.psnr_frames(a, b)
    assert full[0] == pytest.approx(120.0) and full[1] == pytest.approx(-10 * np.log10(0.002), abs=1e-4)
    boxed, name = M.psnr_frames(a, b, boxes)
    assert boxed[1] == pytest.approx(20.0, abs=1e-4) and name == M.PSNR_FACE_NAME
    assert M.psnr(a[1], b[1], boxes[1]) == pytest.approx(20.0, abs=1e-4)
    with pytest.raises(ValueError, match="shape"):
        M.psnr_frames(a, b[:1])
    with pytest.raises(ValueError, match=r"\(2, 4\)"):
        M.psnr_frames(a, b, boxes[:1])


def test_psnr_frames_accepts_uint8():
    a = np.zeros((1, 4, 4, 3), np.uint8)
    b = np.full_like(a, 51)  # 51 / 255 = 0.2 -> MSE 0.04 -> 13.98 dB
    assert M.psnr_frames(a, b)[0][0] == pytest.approx(-10 * np.log10(0.04), abs=1e-4)


def test_face_boxes_hold_the_face(speaker):
    ds, idx, _ = speaker
    boxes = M.face_boxes(ds, idx)
    assert boxes.shape == (6, 4) and boxes.dtype == np.int64
    lm = ds.landmarks2d.numpy()[idx]
    assert (lm[..., 0] >= boxes[:, None, 0]).all() and (lm[..., 0] <= boxes[:, None, 2]).all()
    assert (lm[..., 1] >= boxes[:, None, 1] - 1e-3).all() and (lm[..., 1] <= boxes[:, None, 3]).all()
    assert tuple(boxes[2]) == tuple(ds.rect(20, "face"))
    assert M.face_boxes(ds).shape == (len(ds), 4)


# ------------------------------------------------------------------------------------------------ LPIPS


def test_lpips_of_a_frame_with_itself_is_zero_and_grows_with_noise(speaker):
    _, _, frames = speaker
    x = frames[:3].astype(np.float32) / 255.0
    d0, name = M.lpips_distance(x, x)
    assert name in (LPIPS_NAME, STLPIPS_NAME)
    assert d0.shape == (3,) and (d0 == 0).all()
    assert (M.lpips_distance(frames[:3], frames[:3])[0] == 0).all()  # uint8 input
    rng = np.random.default_rng(0)
    small = np.clip(x + rng.normal(0, 0.03, x.shape), 0, 1).astype(np.float32)
    large = np.clip(x + rng.normal(0, 0.15, x.shape), 0, 1).astype(np.float32)
    d_small, d_large = M.lpips_distance(x, small)[0], M.lpips_distance(x, large)[0]
    assert (d_small > 0).all() and (d_large > d_small).all()
    with pytest.raises(ValueError, match="shape"):
        M.lpips_distance(x, x[:2])


def test_lpips_without_alexnet_weights_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("TALKFACE_WEIGHTS_ALEXNET_TORCHVISION", raising=False)
    x = np.zeros((1, 32, 32, 3), np.float32)
    with pytest.raises(FileNotFoundError, match="AlexNet"):
        M.lpips_distance(x, x, kind="lpips")


# ------------------------------------------------------------------------------------------------ LMD


def test_lmd_by_hand_on_landmark_arrays():
    rng = np.random.default_rng(0)
    gt = rng.uniform(20, 100, (4, 68, 2))
    # the same shapes moved by a per-frame shift: 0 after per-frame mean-centring
    moved = gt + rng.normal(0, 5, (4, 1, 2))
    out = M.lmd_landmarks(moved, gt)
    assert out["lmd_mouth"] == pytest.approx(0, abs=1e-9) and out["lmd_face"] == pytest.approx(0, abs=1e-9)
    assert out["detected"] == 1.0 and out["n_used"] == 4 and "ER-NeRF" in out["name"]
    # mouth points 48-57 moved by +2 px in x, 58-67 by -2 px: the mouth mean is unchanged, so every mouth
    # point is 2 px off -> mouth LMD 2; face LMD: 20 of 68 points off by 2 (face mean unchanged) -> 40/68
    pred = gt.copy()
    pred[:, 48:58, 0] += 2.0
    pred[:, 58:68, 0] -= 2.0
    out = M.lmd_landmarks(pred, gt)
    assert out["lmd_mouth"] == pytest.approx(2.0) and out["lmd_face"] == pytest.approx(40 / 68)
    # a frame without a face (NaN row) in either set is excluded and counted
    pred[1] = np.nan
    gt2 = gt.copy()
    gt2[3] = np.nan
    out = M.lmd_landmarks(pred, gt2)
    assert out["detected"] == 0.5 and out["n_used"] == 2 and out["lmd_mouth"] == pytest.approx(2.0)
    pred[:] = np.nan
    out = M.lmd_landmarks(pred, gt)
    assert out["detected"] == 0.0 and np.isnan(out["lmd_mouth"]) and np.isnan(out["lmd_face"])
    with pytest.raises(ValueError, match="68, 2"):
        M.lmd_landmarks(gt[:, :20], gt[:, :20])


def test_detect_landmarks_finds_the_synthetic_speaker(speaker):
    ds, idx, frames = speaker
    assert M.dlib_upsample(128, 128) == 1 and M.dlib_upsample(512, 512) == 0
    lm = M.detect_landmarks(frames)
    assert lm.shape == (6, 68, 2) and np.isfinite(lm).all()
    err = np.linalg.norm(lm - ds.landmarks2d.numpy()[idx], axis=-1)  # (6, 68) px
    assert err[:, 48:68].mean() < 3.0  # measured 1.5 px at 128 px
    blank = np.zeros((1, 128, 128, 3), np.uint8)
    assert np.isnan(M.detect_landmarks(blank)).all()


def test_lmd_images_counts_frames_without_a_face(speaker):
    _, _, frames = speaker
    out = M.lmd_images(frames[:3], frames[:3])
    assert out["lmd_mouth"] == 0.0 and out["detected"] == 1.0
    assert out["name"] == "LMD (dlib 68 points, px at 128x128, mouth 48-67 mean-centred as ER-NeRF)"
    gen = frames[:3].astype(np.float32) / 255.0  # float frames are rounded back to the same uint8
    gen[2] = 0.0  # no face in one generated frame
    out = M.lmd_images(gen, frames[:3])
    assert out["detected"] == pytest.approx(2 / 3) and out["n_used"] == 2 and out["lmd_mouth"] == 0.0
    with pytest.raises(ValueError, match="shape"):
        M.lmd_images(frames[:2], frames[:3])


# ------------------------------------------------------------------------------------------------ Sync


def test_sync_expert_prefers_aligned_audio_on_the_synthetic_speaker():
    from talkface_lite.models.sync_expert import LandmarkSyncExpert
    from talkface_lite.training.landmark_models import synthetic_arrays, train_sync_expert

    train, test = (
        synthetic_arrays(seconds=12, speaker_seed=0, utterance_seed=0),
        synthetic_arrays(seconds=6, speaker_seed=0, utterance_seed=1),
    )
    torch.manual_seed(0)
    expert = LandmarkSyncExpert(train.feats.shape[-1], train.feats.shape[1], dim=32)
    train_sync_expert(expert, train, steps=100, batch_size=32, lr=3e-3, progress=False)
    aligned, name = M.sync_expert_score(expert, test.landmarks, test.feats)
    shifted, _ = M.sync_expert_score(expert, test.landmarks, np.roll(test.feats, 8, axis=0))
    assert name == M.SYNC_EXPERT_NAME and "not SyncNet" in name
    assert aligned > shifted + 0.1  # measured 0.29 vs 0.04
    conf = M.sync_expert_confidence(expert, test.landmarks, test.feats)
    assert conf["offset"] in (-1, 0, 1) and conf["confidence"] > 0.05 and "not SyncNet" in conf["name"]
    assert conf["confidence"] == pytest.approx(conf["best"] - conf["median"])


def test_syncnet_is_looked_up_never_assumed(tmp_path, monkeypatch, speaker):
    ds, _, _ = speaker
    frames, audio = np.stack([ds.frame(i) for i in range(8)]), ds.audio()[: 8 * 640]
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("TALKFACE_WEIGHTS_SYNCNET_V2", raising=False)
    assert M.syncnet_available() is False
    with pytest.raises(FileNotFoundError, match="sync_expert_score"):
        M.lse(frames, audio)
    monkeypatch.setenv("TALKFACE_WEIGHTS_SYNCNET_V2", str(tmp_path / "typo.model"))
    with pytest.raises(FileNotFoundError, match="typo.model"):
        M.syncnet_available()


def test_lse_runs_on_a_face_track_with_random_syncnet_weights(tmp_path, monkeypatch, speaker):
    """Random weights in syncnet_python's key layout (real ones are not available): plumbing only."""
    from talkface_lite.models.syncnet import SyncNet

    ds, _, _ = speaker
    frames, audio = np.stack([ds.frame(i) for i in range(8)]), ds.audio()[: 8 * 640]
    torch.manual_seed(0)
    torch.save(SyncNet().state_dict(), tmp_path / "syncnet_v2.model")
    monkeypatch.setenv("TALKFACE_WEIGHTS_SYNCNET_V2", str(tmp_path / "syncnet_v2.model"))
    assert M.syncnet_available()
    out = M.lse(frames, audio, vshift=2)
    assert out["n_windows"] == 3 and np.isfinite([out["lse_c"], out["lse_d"]]).all()
    assert out["name"] == M.lse_name(2) and "vshift 2" in out["name"] and "not S3FD" in out["name"]
    boxes = M.face_track_boxes(frames)
    assert boxes.shape == (8, 4) and (boxes[:, 2] > boxes[:, 0] + 30).all()  # a ~60 px face in 128 px frames
    assert "the caller's boxes" in M.lse(frames, audio, boxes=boxes, vshift=2)["name"]


# ------------------------------------------------------------------------------------------------ labels


def test_every_metric_has_a_note_and_the_sync_expert_is_never_called_syncnet():
    for key in ("PSNR", "PSNR (face)", "LPIPS", "LMD", "FID", "Sync expert", "Sync expert confidence", "LSE-C / LSE-D"):
        assert M.METRIC_NOTES[key]
    assert "not SyncNet" in M.METRIC_NOTES["Sync expert"] and "ST-LPIPS" in M.METRIC_NOTES["LPIPS"]
    assert M.FID_NAME == "FID (pt_inception-2015-12-05, clean-fid resize)"
    assert weights.KNOWN_WEIGHTS["syncnet_v2"].without.startswith("a landmark-audio sync expert")
