"""Tests for talkface_lite.data.masks: region polygons, bit-flag masks, rectangles, background plate."""

import numpy as np
import pytest
from speaker_fixtures import toy_recording

from talkface_lite.data import masks


def test_bits_and_decode():
    m = np.array([[0, 1, 3, 8, 9, 4]], np.uint8)
    assert masks.decode(m, "face").tolist() == [[False, True, True, False, True, False]]
    assert masks.decode(m, "mouth").tolist() == [[False, False, True, False, False, False]]
    assert masks.decode(m, "background").tolist() == [[True, True, True, False, False, True]]
    with pytest.raises(ValueError, match="unknown region"):
        masks.decode(m, "hair")


def test_frame_mask_regions_nest():
    rec = toy_recording(T=1, size=(96, 96))
    lm = rec.landmarks2d[0]
    m = masks.frame_mask(lm, 96, 96)
    face, mouth, eyes, head = (masks.decode(m, r) for r in ("face", "mouth", "eyes", "head"))
    assert face.sum() > 0 and mouth.sum() > 0 and eyes.sum() > 0
    assert not (face & ~head).any()  # the head contains the face
    assert (mouth & ~face).sum() <= 0.05 * mouth.sum() and (eyes & ~face).sum() <= 0.05 * eyes.sum()
    nose = lm[30].astype(int)
    assert face[nose[1], nose[0]] and not mouth[nose[1], nose[0]]
    assert head[95, int(lm[8, 0])]  # the neck/torso below the chin is foreground
    assert masks.decode(m, "background")[0, 0]


def test_region_rect_by_hand():
    lm = np.zeros((68, 2))
    lm[:, 0], lm[:, 1] = 50, 50
    lm[48:60] = [[40, 60], [60, 60], [50, 55], [50, 66]] * 3  # lips span x 40..60, y 55..66
    assert masks.region_rect(lm, "mouth", (100, 100), pad=0.0) == (40, 55, 60, 66)
    assert masks.region_rect(lm, "mouth", (100, 100), pad=0.1) == (38, 53, 62, 68)  # 10 % of (20, 11)
    x0, y0, x1, y1 = masks.region_rect(lm, "mouth", (100, 100), pad=0.0, min_size=32)
    # grown evenly about the centre: x 34..66; y 44.5..76.5 rounded outwards to 44..77
    assert (x0, y0, x1, y1) == (34, 44, 66, 77)
    lm[48:60, 0] -= 38  # against the left border: keeps 32 px by sliding right
    x0, _, x1, _ = masks.region_rect(lm, "mouth", (100, 100), pad=0.0, min_size=32)
    assert (x0, x1) == (0, 32)
    with pytest.raises(ValueError, match="no rectangle"):
        masks.region_rect(lm, "background", (100, 100))
    with pytest.raises(ValueError, match=r"\(\.\.\., 68, 2\)"):
        masks.region_rect(lm[:10], "mouth", (100, 100))


def test_background_plate_median_and_fill():
    T, H, W = 5, 4, 6
    frames = np.full((T, H, W, 3), 100, np.uint8)
    frames[2] = 255  # one outlier frame: the median ignores it
    fg = np.zeros((T, H, W), bool)
    fg[:, :, :2] = True  # columns 0-1 are always covered: filled from the nearest seen column
    frames[:, :, 2:] += np.arange(W - 2, dtype=np.uint8)[None, None, :, None]
    frames[2] = 255
    plate = masks.background_plate(frames, fg)
    assert plate[:, 2:, 0].tolist() == [[100, 101, 102, 103]] * H
    assert (plate[:, :2, 0] == 100).all()
