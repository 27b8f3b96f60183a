"""talkface_lite.perceptual: LPIPS / ST-LPIPS rebuilt without torchvision, checked against the packages' own code."""

import importlib.util
import subprocess
import sys
import types

import pytest
import torch
from torch import nn

from talkface_lite import doctor
from talkface_lite import perceptual as P
from talkface_lite.weights import find_weights

HINT = "install with: pip install --no-deps lpips==0.1.4 stlpips-pytorch==0.0.2 (make install does)"
needs_stlpips = pytest.mark.skipif(find_weights("stlpips_alex") is None, reason=HINT)
needs_lpips_linear = pytest.mark.skipif(find_weights("lpips_alex_linear") is None, reason=HINT)


@pytest.fixture(autouse=True)
def one_thread():
    """These convolutions are tiny: one thread is as fast, and not slowed 20x by a busy second core."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def images(n=4, h=32, w=32, seed=0):
    """Smooth colour images in [0, 1] (sums of random low-frequency cosines), ``(n, 3, h, w)``."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    f = torch.rand(n, 3, 4, 2, generator=g) * 6
    phase = torch.rand(n, 3, 4, 1, 1, generator=g) * 6.28
    waves = torch.cos(f[..., 0, None, None] * xx + f[..., 1, None, None] * yy + phase)  # (n, 3, 4, h, w)
    return (0.5 + 0.2 * waves.mean(dim=2)).clamp(0, 1)


def tv_alexnet_features():
    """torchvision 0.x ``alexnet().features``, written out from its source (inplace ReLUs, final pool)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )


@pytest.fixture
def reference_packages(monkeypatch):
    """Import ``lpips`` / ``stlpips_pytorch`` with stub torchvision (and IPython, torchsummary when absent).

    The stub's ``models.alexnet(pretrained=...)`` returns randomly initialised
    torchvision-layout features. Everything imported is removed again afterwards.
    """
    torch.manual_seed(0)
    tv = types.ModuleType("torchvision")
    tv.models = types.SimpleNamespace(
        alexnet=lambda pretrained=False, **kw: types.SimpleNamespace(features=tv_alexnet_features())
    )
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    for name, attr in (("IPython", "embed"), ("torchsummary", "summary")):
        if importlib.util.find_spec(name) is None:
            stub = types.ModuleType(name)
            setattr(stub, attr, lambda *a, **k: None)
            monkeypatch.setitem(sys.modules, name, stub)
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.split(".")[0] in ("lpips", "stlpips_pytorch"):
            del sys.modules[name]


@needs_stlpips
def test_stlpips_matches_the_stlpips_package(reference_packages):
    from stlpips_pytorch import stlpips

    ref = stlpips.LPIPS(
        net="alex", variant="shift_tolerant", verbose=False
    )  # loads weights/vST0.0/alex_shift_tolerant.pth
    ours = P.load_lpips("stlpips")
    assert ours.name == "ST-LPIPS (alex)" and ours.weights[0].endswith("alex_shift_tolerant.pth")
    for h, w in ((32, 32), (21, 27)):
        x, y = images(3, h, w, seed=1), images(3, h, w, seed=2)
        expected = ref(x, y, normalize=True).flatten()  # (3, 1, 1, 1) -> (3,)
        torch.testing.assert_close(ours(x, y), expected, rtol=1e-4, atol=1e-6)


@needs_lpips_linear
def test_lpips_path_matches_the_lpips_package(reference_packages, tmp_path):
    import lpips

    ref = lpips.LPIPS(net="alex", version="0.1", verbose=False)  # stub AlexNet (random), real v0.1 linear layers
    backbone = {
        f"features.{i}.{k}": v
        for sl in (ref.net.slice1, ref.net.slice2, ref.net.slice3, ref.net.slice4, ref.net.slice5)
        for i, m in sl.named_children()
        for k, v in m.state_dict().items()
    }
    backbone["classifier.1.weight"] = torch.zeros(4096, 9216)  # torchvision files also hold the classifier
    path = tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save(backbone, path)
    ours = P.load_lpips("auto", alexnet_weights=path)  # found AlexNet weights -> true LPIPS
    assert ours.name == "LPIPS (alex, v0.1)" and ours.weights[0] == str(path)
    x, y = images(3, 31, 40, seed=3), images(3, 31, 40, seed=4)
    torch.testing.assert_close(ours(x, y), ref(x, y, normalize=True).flatten(), rtol=1e-4, atol=1e-6)


def test_lpips_without_alexnet_weights_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("TALKFACE_WEIGHTS_ALEXNET_TORCHVISION", raising=False)
    with pytest.raises(FileNotFoundError, match="TALKFACE_WEIGHTS_ALEXNET_TORCHVISION=") as err:
        P.load_lpips("lpips")
    assert "\n" not in str(err.value) and "alexnet-owt-7be5be79.pth" in str(err.value)
    monkeypatch.setattr(P, "find_weights", lambda name, explicit=None: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps stlpips-pytorch==0\.0\.2"):
        P.load_lpips("auto")
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps lpips==0\.1\.4"):
        P.load_lpips("lpips", alexnet_weights=tmp_path / "x.pth")
    with pytest.raises(ValueError, match="kind must be one of"):
        P.load_lpips("vgg")


@needs_stlpips
def test_distance_properties_and_cache():
    net = P.load_lpips("stlpips")
    assert P.load_lpips("stlpips") is net  # cached, not reloaded
    x = images(4, seed=5)
    assert torch.equal(net(x, x), torch.zeros(4))
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(6))
    d = torch.stack([net(x, (x + s * noise).clamp(0, 1)) for s in (0.02, 0.05, 0.15)])  # (3 levels, 4)
    assert (d[0] > 0).all() and (d[1] > d[0]).all() and (d[2] > d[1]).all()
    y = images(4, seed=7)
    torch.testing.assert_close(net(x, y), net(y, x))
    single = torch.cat([net(x[i : i + 1], y[i : i + 1]) for i in range(4)])
    assert net(x, y).shape == (4,)
    torch.testing.assert_close(net(x, y), single, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("shift_tolerant,minimum", [(True, 21), (False, 31)])
def test_minimum_size_is_tight_and_checked(shift_tolerant, minimum):
    net = P.LPIPS(shift_tolerant=shift_tolerant)  # random weights: sizes only
    assert net.min_size == minimum
    x = torch.rand(2, 3, minimum, 40)
    assert net(x, x.flip(0)).shape == (2,)
    with pytest.raises(ValueError, match=rf"H, W >= {minimum}, got 40x{minimum - 1}.*upsample"):
        net(torch.rand(2, 3, 40, minimum - 1), torch.rand(2, 3, 40, minimum - 1))
    with pytest.raises(Exception):  # the check is not stricter than the network itself
        net.features(torch.rand(1, 3, minimum - 1, minimum - 1))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        net(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 33))


@needs_stlpips
def test_gradients_reach_the_input_not_the_parameters():
    net = P.load_lpips("stlpips")
    net.train()  # stays in eval mode
    assert not net.training
    assert not any(p.requires_grad for p in net.parameters())
    x = images(2, seed=8).requires_grad_(True)
    net(x, images(2, seed=9)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())
    same = images(2, seed=8).requires_grad_(True)  # zero distance: gradient 0, not NaN
    net(same, images(2, seed=8)).sum().backward()
    assert torch.isfinite(same.grad).all()


@needs_stlpips
def test_never_imports_the_packages_or_torchvision():
    code = (
        "import sys; from talkface_lite.perceptual import load_lpips; print(load_lpips().name); "
        "print(sorted({'lpips', 'stlpips_pytorch', 'torchvision'} & set(sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[1] == "[]", proc.stdout


@needs_stlpips
def test_doctor_names_the_network_auto_picks(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("TALKFACE_WEIGHTS_ALEXNET_TORCHVISION", raising=False)
    check = doctor.check_perceptual()
    assert check.level == "ok" and check.detail.startswith("ST-LPIPS (alex)")
