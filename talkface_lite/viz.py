"""Every plot helper the notebooks use, in one figure style, and the artifact manifest.

``save(fig, "01_compositing")`` writes ``figures/01_compositing.png`` and
records a row in ``figures/MANIFEST``::

    artifact<TAB>notebook<TAB>mode<TAB>device<TAB>commit<TAB>written

so every file in ``figures/`` can be traced to the notebook, mode, device
and commit that produced it. Tables go through :func:`save_table` (CSV and
Markdown) and land in the same manifest.

Explained in notebooks/00_setup_and_tour.ipynb.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import os
from pathlib import Path
from typing import Iterable, Optional, Sequence

import matplotlib
import matplotlib.pyplot as plt

from . import repro

MANIFEST_NAME = "MANIFEST"
MANIFEST_COLUMNS = ("artifact", "notebook", "mode", "device", "commit", "written")

#: One palette for the whole series: reference/ground truth, ours, baselines.
COLOURS = {
    "gt": "#222222",
    "ours": "#d1495b",
    "torch": "#00798c",
    "cuda": "#edae49",
    "tcnn": "#66a182",
    "baseline": "#8d96a3",
}

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "image.cmap": "viridis",
    "legend.frameon": False,
    "axes.prop_cycle": matplotlib.cycler(
        color=[COLOURS[k] for k in ("ours", "torch", "cuda", "tcnn", "baseline", "gt")]
    ),
}


def use_style() -> None:
    """Apply the series' figure style (idempotent)."""
    plt.rcParams.update(STYLE)


use_style()


def figure(nrows: int = 1, ncols: int = 1, width: float = 4.0, height: float = 3.0, **kw):
    """``plt.subplots`` with panel sizes in inches per panel; returns ``(fig, axes)``."""
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kw)


def check_name(name: str) -> str:
    """``name`` if it is a plain artifact file stem, else ``ValueError`` (check it before long work)."""
    return _safe_name(name)


def _safe_name(name: str) -> str:
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise ValueError(f"artifact name {name!r} must be a plain file stem such as '01_compositing'")
    return name


def _record(artifact: str, notebook: Optional[str] = None) -> None:
    """Insert or replace ``artifact``'s row in ``figures/MANIFEST`` (atomic rewrite)."""
    run = repro.active_run()
    row = {
        "artifact": artifact,
        "notebook": notebook or (run.name if run else "interactive"),
        "mode": run.mode if run else "unknown",
        "device": str(run.device) if run else "unknown",
        "commit": repro.git_commit(),
        "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    rows = {r["artifact"]: r for r in read_manifest()}
    rows[artifact] = row
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, delimiter="\t", lineterminator="\n")
    writer.writeheader()
    for key in sorted(rows):
        writer.writerow(rows[key])
    repro.atomic_write_text(repro.output_dir() / MANIFEST_NAME, buf.getvalue())


def artifact_path(name: str) -> Path:
    """``figures/<name>`` for an artifact that other code writes (a video, say); then :func:`record_artifact`."""
    return repro.output_dir() / _safe_name(name)


def record_artifact(name: str, notebook: Optional[str] = None) -> Path:
    """Record an artifact written to :func:`artifact_path` in ``figures/MANIFEST``; returns its path."""
    path = artifact_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"{path} was not written: nothing to record")
    _record(path.name, notebook)
    return path


def read_manifest() -> list:
    """Rows of ``figures/MANIFEST`` as dicts (empty list when there is none yet)."""
    path = repro.output_dir() / MANIFEST_NAME
    if not path.is_file():
        return []
    with path.open() as f:
        return [dict(r) for r in csv.DictReader(f, delimiter="\t")]


def save(fig, name: str, notebook: Optional[str] = None, close: bool = False) -> Path:
    """Save ``fig`` as ``figures/<name>.png`` and record it in the manifest.

    Args:
        fig: a matplotlib figure.
        name: file stem, e.g. ``"01_compositing"`` (prefix with the notebook number).
        notebook: override the producing notebook (defaults to the active run).
        close: close the figure after saving (scripts; notebooks keep it to display).

    Returns:
        The written path.
    """
    path = repro.output_dir() / f"{_safe_name(name)}.png"
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.png")
    fig.savefig(tmp)
    os.replace(tmp, path)
    _record(path.name, notebook)
    if close:
        plt.close(fig)
    return path


def save_table(
    rows: Sequence[dict],
    name: str,
    notebook: Optional[str] = None,
    columns: Optional[Iterable[str]] = None,
    floatfmt: str = "{:.4g}",
) -> Path:
    """Write a table as ``figures/<name>.csv`` and ``figures/<name>.md``; record both.

    Args:
        rows: one dict per row.
        name: file stem.
        columns: column order (defaults to the first row's keys).
        floatfmt: format for floats in the Markdown version.

    Returns:
        The CSV path.
    """
    if not rows:
        raise ValueError(f"table {name!r} has no rows; refusing to write an empty table")
    cols = list(columns) if columns is not None else list(rows[0].keys())
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    csv_path = repro.output_dir() / f"{_safe_name(name)}.csv"
    repro.atomic_write_text(csv_path, buf.getvalue())
    md_path = csv_path.with_suffix(".md")
    repro.atomic_write_text(md_path, markdown_table(rows, cols, floatfmt))
    _record(csv_path.name, notebook)
    _record(md_path.name, notebook)
    return csv_path


def markdown_table(rows: Sequence[dict], columns: Sequence[str], floatfmt: str = "{:.4g}") -> str:
    """Render rows as a GitHub Markdown table (floats through ``floatfmt``)."""

    def fmt(v):
        return floatfmt.format(v) if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def show_images(images: Sequence, titles: Optional[Sequence[str]] = None, ncols: int = 4, size: float = 2.5):
    """Grid of images (``(H, W, 3)`` arrays or tensors in [0, 1]); returns the figure."""
    import numpy as np

    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = figure(nrows, ncols, width=size, height=size)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            img = images[i]
            img = img.detach().cpu().numpy() if hasattr(img, "detach") else np.asarray(img)
            ax.imshow(np.clip(img, 0, 1), cmap=None if img.ndim == 3 else "gray")
            if titles is not None:
                ax.set_title(titles[i])
    fig.tight_layout()
    return fig


def plot_curves(curves: dict, xlabel: str = "step", ylabel: str = "", title: str = "", logy: bool = False, ax=None):
    """Line plot of ``{label: (x, y)}``; colours from :data:`COLOURS` when a label matches."""
    if ax is None:
        fig, axes = figure()
        ax = axes[0, 0]
    for label, (x, y) in curves.items():
        ax.plot(x, y, label=label, color=COLOURS.get(label))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if logy:
        ax.set_yscale("log")
    ax.legend()
    return ax.figure


def plot_series_map(series=None):
    """The notebook series as a chain of boxes (notebook 00's map); returns the figure."""
    from matplotlib.patches import FancyBboxPatch

    from .series import SERIES

    series = series or SERIES
    fig, axes = figure(1, 1, width=12, height=3.2)
    ax = axes[0, 0]
    ax.set_xlim(0, 5)
    ax.set_ylim(-0.1, 2.1)
    ax.axis("off")
    for i, nb in enumerate(series):
        row, col = divmod(i, 5)
        x, y = col + 0.05, 1.1 - row * 1.1
        colour = COLOURS["ours"] if nb.paper not in ("—",) else COLOURS["baseline"]
        ax.add_patch(FancyBboxPatch((x, y), 0.85, 0.85, boxstyle="round,pad=0.02", fc=colour, alpha=0.15, ec=colour))
        title = nb.stem[3:].replace("_", " ")
        ax.text(x + 0.425, y + 0.68, f"{nb.number:02d}", ha="center", fontsize=12, weight="bold")
        ax.text(x + 0.425, y + 0.45, title, ha="center", fontsize=8.5, wrap=True)
        ax.text(x + 0.425, y + 0.15, nb.paper, ha="center", fontsize=8, color="#555555")
        if col < 4 and i + 1 < len(series):
            ax.annotate(
                "",
                xy=(x + 1.0, y + 0.42),
                xytext=(x + 0.88, y + 0.42),
                arrowprops=dict(arrowstyle="->", color="#555555"),
            )
    ax.set_title("The notebook series (red: regenerates a part of the paper)")
    return fig
