"""talkface_lite.models.syncnet: SyncNet's layout, MFCCs, face crops and LSE-C/LSE-D, by hand.

No SyncNet weights exist here: the network is checked with random weights saved in the
reference's (syncnet_python ``S``) key layout, shapes only.
"""

import numpy as np
import pytest
import torch

from talkface_lite.models import syncnet as S


def test_state_dict_has_the_reference_key_layout():
    state = S.SyncNet().state_dict()
    assert len(state) == 102  # as syncnet_python's S on current torch
    shapes = {k: tuple(v.shape) for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert len(shapes) == 88  # 12 conv (2 tensors) + 12 BatchNorm (4) + 4 linear (2) + 2 BatchNorm1d (4)
    expected = {
        "netcnnaud.0.weight": (64, 1, 3, 3),
        "netcnnaud.1.running_var": (64,),
        "netcnnaud.4.weight": (192, 64, 3, 3),
        "netcnnaud.8.weight": (384, 192, 3, 3),
        "netcnnaud.11.weight": (256, 384, 3, 3),
        "netcnnaud.14.weight": (256, 256, 3, 3),
        "netcnnaud.18.weight": (512, 256, 5, 4),
        "netcnnaud.19.running_mean": (512,),
        "netcnnlip.0.weight": (96, 3, 5, 7, 7),
        "netcnnlip.4.weight": (256, 96, 1, 5, 5),
        "netcnnlip.8.weight": (256, 256, 1, 3, 3),
        "netcnnlip.11.weight": (256, 256, 1, 3, 3),
        "netcnnlip.14.weight": (256, 256, 1, 3, 3),
        "netcnnlip.18.weight": (512, 256, 1, 6, 6),
        "netfcaud.0.weight": (512, 512),
        "netfcaud.1.running_mean": (512,),
        "netfcaud.3.weight": (1024, 512),
        "netfclip.0.weight": (512, 512),
        "netfclip.3.bias": (1024,),
    }
    assert {k: shapes[k] for k in expected} == expected


def test_towers_embed_mfcc_windows_and_five_face_frames():
    net = S.SyncNet().eval()
    with torch.no_grad():
        assert net.embed_audio(torch.randn(2, 1, 13, 20)).shape == (2, 1024)
        assert net.embed_video(torch.rand(1, 3, 5, 224, 224) * 255).shape == (1, 1024)


def test_load_syncnet_reads_a_reference_layout_file(tmp_path):
    torch.manual_seed(0)
    ref = S.SyncNet()
    state = {k: v for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}  # old torch
    torch.save(state, tmp_path / "syncnet_v2.model")
    net = S.load_syncnet(tmp_path / "syncnet_v2.model")
    assert not net.training
    assert all(torch.equal(net.state_dict()[k], v) for k, v in state.items())
    del state["netfclip.3.bias"]
    torch.save(state, tmp_path / "broken.model")
    with pytest.raises(ValueError, match="netfclip.3.bias"):
        S.load_syncnet(tmp_path / "broken.model")
    torch.save({"w": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not a SyncNet"):
        S.load_syncnet(tmp_path / "other.pth")


def test_mfcc_frames_and_silence_by_hand():
    # 400-sample frames every 160 samples, zero-padded: 1 + ceil((N - 400) / 160) frames
    for n, frames in ((100, 1), (400, 1), (401, 2), (16000, 99)):
        assert S.mfcc(np.ones(n)).shape == (frames, 13)
    # silence: every band is float eps, so the log spectrum is flat -> only DCT coefficient 0 is non-zero,
    # and it is replaced by log(energy) = log(eps)
    cep = S.mfcc(np.zeros(1000))
    np.testing.assert_allclose(cep[:, 0], np.log(np.finfo(float).eps))
    np.testing.assert_allclose(cep[:, 1:], 0.0, atol=1e-12)


def test_mel_filterbank_triangles_and_a_tone():
    fb = S.mel_filterbank(26, 512, 16000)
    assert fb.shape == (26, 257)
    np.testing.assert_allclose(fb.max(axis=1), 1.0)  # each triangle peaks at 1 on its centre bin
    assert (np.diff(fb.argmax(axis=1)) > 0).all()  # centres increase with the filter index
    # a 1 kHz tone (FFT bin 1000 * 512 / 16000 = 32) lights the filter centred nearest bin 32 most
    t = np.arange(16000) / 16000
    cep_bands = S.mfcc(10000 * np.sin(2 * np.pi * 1000 * t))
    assert cep_bands.shape == (99, 13)
    power = np.abs(np.fft.rfft(np.sin(2 * np.pi * 1000 * t[:400]), 512)) ** 2
    assert int(np.argmax(fb @ power)) == int(np.argmin(np.abs(fb.argmax(axis=1) - 32)))


def test_int16_scale():
    np.testing.assert_array_equal(S.to_int16_scale(np.array([0.0, 0.5, -1.0, 1.0])), [0, 16384, -32768, 32767])


def test_crop_geometry_by_hand():
    frame = np.arange(100 * 100 * 3, dtype=np.int64).reshape(1, 100, 100, 3) % 251
    frame = frame.astype(np.uint8)
    # box 40..80: s = 20, centre 60; rows [60 - 20, 60 + 20 * 1.8) = [40, 96), cols [60 - 28, 60 + 28) = [32, 88)
    crop = S.crop_faces(frame, np.array([[40, 40, 80, 80]]), size=56, smooth=1)
    np.testing.assert_array_equal(crop[0], frame[0, 40:96, 32:88])
    # box 0..40 near the corner: cols [20 - 28, 20 + 28) = [-8, 48): 8 columns of the pad value 110
    crop = S.crop_faces(frame, np.array([[0, 0, 40, 40]]), size=56, smooth=1)
    assert (crop[0, :, :8] == 110).all()
    np.testing.assert_array_equal(crop[0, :, 8:], frame[0, 0:56, 0:48])
    assert S.crop_faces(np.repeat(frame, 3, 0), np.tile([40, 40, 80, 80], (3, 1))).shape == (3, 224, 224, 3)


def test_lse_from_distances_by_hand():
    # one-hot video embeddings v_i = e_i; audio a_t = v_(t-2) (zero for t < 2): audio is 2 frames late.
    # At shift +2 window i meets a_(i+2) = v_i (distance ~0) except the last two windows, which meet the
    # zero padding (distance 1): mean 2 / N. The reference reports that as offset vshift - argmin = -2.
    n, vshift = 10, 4
    video = torch.eye(n)
    audio = torch.zeros(n, n)
    audio[2:] = video[:-2]
    dists = S.offset_distances(video, audio, vshift)
    assert dists.shape == (n, 2 * vshift + 1)
    assert float(dists[0, vshift + 2]) == pytest.approx(0.0, abs=1e-4)
    assert float(dists[0, vshift]) == pytest.approx(1.0, abs=1e-4)  # shift 0: e_0 against a_0 = 0
    assert float(dists[5, vshift]) == pytest.approx(np.sqrt(2), abs=1e-4)  # e_5 against a_5 = e_3
    out = S.lse_from_distances(dists, vshift)
    assert out["offset"] == -2 and out["lse_d"] == pytest.approx(2 / n, abs=1e-4)
    mdist = dists.mean(0)
    assert out["lse_c"] == pytest.approx(float(mdist.median() - mdist.min()), abs=1e-6) and out["lse_c"] > 0


def test_sync_scores_runs_with_random_weights():
    torch.manual_seed(0)
    net = S.SyncNet().eval()
    crops = np.random.default_rng(0).integers(0, 256, (8, 224, 224, 3), dtype=np.uint8)
    audio = np.random.default_rng(1).normal(0, 0.1, 8 * 640).astype(np.float32)
    out = S.sync_scores(net, crops, audio, vshift=2, batch_size=2)
    assert out["n_windows"] == 3 and -2 <= out["offset"] <= 2 and out["lse_d"] > 0 and out["lse_c"] >= 0
    with pytest.raises(ValueError, match="at least 6"):
        S.sync_scores(net, crops[:5], audio)
