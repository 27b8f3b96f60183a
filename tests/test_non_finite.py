"""NaN and inf are refused where they enter: feature arrays, audio, dataset files (the encoders: test_hashgrid.py).

Each message says how many values are bad and where the first one is, so the user can find it."""

import numpy as np
import pytest
from speaker_fixtures import toy_recording

from talkface_lite import audio
from talkface_lite.checks import count_non_finite
from talkface_lite.data import dataset as ds


def test_count_by_hand():
    a = np.zeros((3, 4), np.float32)
    a[1, 2], a[2, 0] = np.nan, -np.inf
    assert count_non_finite(a) == (2, (1, 2))
    assert count_non_finite(np.arange(5)) == (0, ())  # integers are always finite


def test_feature_array_with_nan_is_refused():
    feats = np.ones((40, 16, 29), np.float32)
    feats[5, 3, 7] = np.nan
    with pytest.raises(
        ValueError, match=r"feature array: 1 of 18560 values are NaN or inf \(first at index \(5, 3, 7\)\)"
    ):
        audio.load_feature_array(feats, n_frames=40)


def test_audio_with_inf_is_refused_before_features():
    wave = np.zeros(16000, np.float32)
    wave[8000] = np.inf
    with pytest.raises(ValueError, match=r"audio samples: 1 of 16000 values .* \(8000,\)"):
        audio.compute_features(wave)


@pytest.fixture()
def toy_dataset(tmp_path):
    return ds.write_dataset(toy_recording(T=12), tmp_path / "speaker", progress=False)


def test_add_features_with_nan_changes_nothing(toy_dataset):
    before = (toy_dataset / "meta.json").read_text()
    feats = np.ones((12, 16, 29), np.float32)
    feats[-1] = np.nan
    with pytest.raises(ValueError, match="464 of 5568 values are NaN or inf"):
        ds.add_features(toy_dataset, "deepspeech", feats)
    assert (toy_dataset / "meta.json").read_text() == before
    assert not (toy_dataset / "audio_deepspeech.npy").exists()


def test_dataset_with_a_nan_pose_does_not_load(toy_dataset):
    poses = np.load(toy_dataset / "poses.npy")
    poses[4, 0, 3] = np.nan  # a damaged file: one translation component
    np.save(toy_dataset / "poses.npy", poses)
    with pytest.raises(
        ds.DatasetError, match=r"poses\.npy: 1 of 192 values are NaN or inf \(first at index \(4, 0, 3\)\)"
    ):
        ds.load_dataset(toy_dataset)
