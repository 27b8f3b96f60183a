"""The repository's entry points say what the README promises."""

from pathlib import Path

import pytest

from talkface_lite import series

ROOT = Path(__file__).resolve().parent.parent


def test_readme_quick_start_and_series_map():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make reproduce" in quick and "make test" in quick
    for nb in series.SERIES:
        assert f"`{nb.stem}`" in readme, f"README's notebook table lacks {nb.stem}"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_pyproject_extras_and_console_script():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["scripts"]["talkface-lite"] == "talkface_lite.cli:main"
    assert {"dev", "video"} <= set(meta["optional-dependencies"])
    assert not any(d.startswith("torchvision") for d in meta["dependencies"]), "torchvision breaks CPU torch"


def test_binder_installs_the_package_and_kernel():
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "set -e" in post and "pip install" in post and '-e ".' in post and "ipykernel install" in post
    assert "+cpu" in (ROOT / "binder" / "requirements.txt").read_text()


def test_conda_environment_uses_conda_forge_only():
    env = (ROOT / "environment.yml").read_text()
    channels = env.split("channels:", 1)[1].split("dependencies:", 1)[0]
    assert [c.strip("- ").strip() for c in channels.strip().splitlines()] == ["conda-forge"]
    assert "- pytorch" in env and '-e ".[dev' in env
