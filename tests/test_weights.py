"""talkface_lite.weights: offline lookup of optional weights in known places."""

import pytest

from talkface_lite import weights


def test_unknown_name_lists_known_ones():
    with pytest.raises(KeyError, match="inception_fid"):
        weights.find_weights("resnet9000")


def test_explicit_and_environment_paths(tmp_path, monkeypatch):
    f = tmp_path / "w.pth"
    f.write_bytes(b"x")
    assert weights.find_weights("inception_fid", explicit=f) == f
    monkeypatch.setenv("TALKFACE_WEIGHTS_INCEPTION_FID", str(f))
    assert weights.find_weights("inception_fid") == f
    monkeypatch.setenv("TALKFACE_WEIGHTS_INCEPTION_FID", str(tmp_path / "typo.pth"))
    with pytest.raises(FileNotFoundError, match="typo.pth"):
        weights.find_weights("inception_fid")


def test_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("TALKFACE_WEIGHTS_SYNCNET_V2", raising=False)
    assert weights.find_weights("syncnet_v2") is None
    ckpt = tmp_path / "hub" / "checkpoints" / "syncnet_v2.model"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"x")
    assert weights.find_weights("syncnet_v2") == ckpt


def test_package_files_found_without_import(tmp_path, monkeypatch):
    pkg = tmp_path / "fakepkg_weights"
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('importing me is not allowed')\n")
    (pkg / "models" / "net.dat").write_bytes(b"x")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert weights.package_dir("fakepkg_weights") == pkg
    spec = weights.WeightSpec("fake", "test", package_files=(("fakepkg_weights", "models/*.dat"),))
    monkeypatch.setitem(weights.KNOWN_WEIGHTS, "fake", spec)
    assert weights.find_weights("fake") == pkg / "models" / "net.dat"


def test_report_has_every_known_weight():
    rows = weights.weights_report()
    assert [r["name"] for r in rows] == list(weights.KNOWN_WEIGHTS)
    assert all(r["if_missing"] for r in rows)
