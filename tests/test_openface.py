"""Tests for talkface_lite.data.video.openface: AU45 from an OpenFace CSV aligned to 25 fps video frames."""

import numpy as np
import pytest

from talkface_lite.data.video import openface


def write_csv(path, rows, header=("frame", " face_id", " timestamp", " confidence", " success", " AU45_r")):
    lines = [", ".join(h.strip() if i == 0 else h for i, h in enumerate(header))]
    lines += [", ".join(str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_same_rate_rows_map_one_to_one(tmp_path):
    rows = [(i + 1, 0, i / 25, 0.98, 1, 0.1 * i) for i in range(10)]
    au, notes = openface.read_au45(write_csv(tmp_path / "a.csv", rows), n_frames=10)
    assert np.allclose(au, 0.1 * np.arange(10)) and notes == []


def test_30fps_csv_is_aligned_by_timestamp(tmp_path):
    # OpenFace ran on the 30 fps original: AU45 = 2 t, so frame i (t = i/25) must get 2 i / 25
    rows = [(i + 1, 0, round(i / 30, 4), 0.98, 1, round(2 * i / 30, 4)) for i in range(60)]
    au, notes = openface.read_au45(write_csv(tmp_path / "b.csv", rows), n_frames=49)
    assert np.allclose(au, 2 * np.arange(49) / 25, atol=1e-3)
    assert any("60 rows" in n and "timestamp" in n for n in notes)


def test_failed_rows_interpolated_and_values_clipped(tmp_path):
    rows = [(i + 1, 0, i / 25, 0.9, 0 if i == 2 else 1, 9.0 if i == 2 else float(i)) for i in range(5)]
    rows[4] = (5, 0, 4 / 25, 0.9, 1, 7.5)
    au, notes = openface.read_au45(write_csv(tmp_path / "c.csv", rows), n_frames=5)
    assert au.tolist() == [0.0, 1.0, 2.0, 3.0, 5.0]  # row 2 (no face) interpolated, 7.5 clipped to 5
    assert any("1 rows without a tracked face" in n for n in notes)


def test_no_timestamp_stretches_rows(tmp_path):
    rows = [(i + 1, float(i)) for i in range(5)]
    au, notes = openface.read_au45(write_csv(tmp_path / "d.csv", rows, header=("frame", " AU45_r")), n_frames=9)
    assert np.allclose(au, np.arange(9) / 2)
    assert any("stretched" in n for n in notes)


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        openface.read_au45(tmp_path / "none.csv", 5)
    p = write_csv(tmp_path / "e.csv", [(1, 0.5)], header=("frame", " AU12_r"))
    with pytest.raises(ValueError, match="no AU45_r column.*-aus"):
        openface.read_au45(p, 5)
    p = write_csv(tmp_path / "f.csv", [(1, 0, 0.0, 0.1, 0, 1.0)])
    with pytest.raises(ValueError, match="no face"):
        openface.read_au45(p, 5)
