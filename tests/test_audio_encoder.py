"""Tests for talkface_lite.models.audio_encoder (AudioNet, attention time filter, feature norm)."""

import numpy as np
import pytest
import torch

from talkface_lite.models.audio_encoder import (
    AudioAttNet,
    AudioEncoder,
    AudioNet,
    FeatureNorm,
    as_windows,
    neighbour_frames,
)


def test_as_windows_accepts_usual_layouts_and_names_bad_shape():
    assert as_windows(torch.zeros(7, 16, 29)).shape == (7, 16, 29)
    assert as_windows(np.zeros((7, 1024))).shape == (7, 1, 1024)
    assert as_windows(torch.zeros(2, 7, 2, 1024)).shape == (2, 7, 2, 1024)
    with pytest.raises(ValueError, match=r"\(5,\)"):
        as_windows(torch.zeros(5))


@pytest.mark.parametrize("window,dim", [(16, 29), (2, 1024), (1, 1024), (16, 80), (3, 13)])
def test_audionet_output_shape_for_every_window(window, dim):
    net = AudioNet(dim, window, dim_out=32)
    assert net(torch.randn(5, window, dim)).shape == (5, 32)
    assert net(torch.randn(2, 5, window, dim)).shape == (2, 5, 32)


def test_audionet_reduces_16_steps_by_four_stride2_convs():
    net = AudioNet(29, 16)
    convs = [m for m in net.convs if isinstance(m, torch.nn.Conv1d)]
    assert len(convs) == 4 and all(c.stride == (2,) for c in convs)
    x = torch.randn(3, 29, 16)
    assert net.convs(x).shape[-1] == 1  # 16 -> 8 -> 4 -> 2 -> 1


def test_audionet_rejects_wrong_window():
    with pytest.raises(ValueError, match="window"):
        AudioNet(29, 16)(torch.randn(4, 8, 29))


def test_neighbour_frames_indices_with_edge_padding():
    codes = torch.arange(5.0)[:, None]  # frame t has code t
    nb = neighbour_frames(codes, seq_len=4)[..., 0]  # (5, 4): frames t-2 .. t+1, clamped
    expected = torch.tensor([[0, 0, 0, 1], [0, 0, 1, 2], [0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 4]], dtype=torch.float32)
    assert torch.equal(nb, expected)


def test_attention_weights_sum_to_one_and_constant_sequence_is_unchanged():
    torch.manual_seed(0)
    att = AudioAttNet(dim=8, seq_len=8)
    w = att.weights(torch.randn(10, 8, 8))
    assert torch.allclose(w.sum(-1), torch.ones(10), atol=1e-6) and (w >= 0).all()
    const = torch.randn(1, 8).expand(20, 8).contiguous()
    assert torch.allclose(att(const), const, atol=1e-6)  # a weighted average of equal codes
    assert att(torch.randn(3, 20, 8)).shape == (3, 20, 8)


def test_attention_output_is_a_convex_combination_of_neighbours():
    torch.manual_seed(1)
    att = AudioAttNet(dim=4, seq_len=8)
    codes = torch.randn(30, 4)
    out = att(codes)
    nb = neighbour_frames(codes, 8)
    assert (out <= nb.max(1).values + 1e-6).all() and (out >= nb.min(1).values - 1e-6).all()


def test_feature_norm_standardises_and_checks_dim():
    x = torch.randn(100, 16, 5) * 3 + 2
    norm = FeatureNorm(5).fit(x)
    y = norm(x).reshape(-1, 5)
    assert torch.allclose(y.mean(0), torch.zeros(5), atol=1e-4)
    assert torch.allclose(y.std(0), torch.ones(5), atol=1e-3)
    with pytest.raises(ValueError, match="D=5"):
        FeatureNorm(5).fit(torch.randn(10, 4))


def test_audio_encoder_end_to_end_shapes():
    enc = AudioEncoder(29, 16, dim_out=32)
    assert enc(torch.randn(12, 16, 29)).shape == (12, 32)
    assert AudioEncoder(1024, 1, smooth=False)(torch.randn(12, 1024)).shape == (12, 32)
