"""``talkface-lite reproduce``: execute the notebook series with papermill.

Default (what ``make reproduce`` runs): every ``notebooks/NN_*.ipynb`` in
order, with the parameters ``QUICK`` and ``DEVICE`` injected, executed
copies written to ``build/notebooks/``, figures and tables to ``figures/``
(each recorded in ``figures/MANIFEST``), one run manifest per notebook in
``build/runs/``, and a summary of where everything went. A failing notebook
does not stop the series: the others still run, the failure is reported with
the path of its partially executed copy (``NN_name.failed.ipynb``; an earlier
good copy is never overwritten by a failed run), and the exit status is 1.
The Jupyter kernel is checked once, before anything runs. The kernels run
headless (``TALKFACE_HEADLESS=1``): no widgets, text progress bars.

``--in-place`` re-executes the committed notebooks themselves in QUICK mode
(no parameters injected, so the committed files stay clean) for developers.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def _bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "quick"):
        return True
    if value in ("0", "false", "no", "full"):
        return False
    raise ValueError(f"QUICK must be True or False, got {text!r}")


def _quick_arg(text: str) -> bool:
    import argparse

    try:
        return _bool(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_arguments(parser) -> None:
    parser.add_argument(
        "--quick", default=True, type=_quick_arg, help="True (CPU, minutes; default) or False (paper scale, GPU)"
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--kernel", default="talkface-lite", help="Jupyter kernel name (the project's own)")
    parser.add_argument("--only", nargs="+", default=None, metavar="NOTEBOOK", help="run only these notebooks")
    parser.add_argument("--out", default=None, help="folder for executed copies (default build/notebooks)")
    parser.add_argument("--in-place", action="store_true", help="re-execute the committed notebooks (QUICK)")
    parser.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")


def notebook_list(root: Path, only=None) -> list:
    """The series in order, or the notebooks named in ``only`` (paths or stems)."""
    series = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not only:
        return series
    picked = []
    for item in only:
        path = Path(item)
        cands = [path, root / path, root / "notebooks" / path, root / "notebooks" / f"{item}.ipynb"]
        match = next((c for c in cands if c.is_file()), None)
        if match is None:
            match = next((s for s in series if s.stem.startswith(str(item))), None)
        if match is None:
            raise FileNotFoundError(f"no notebook matches {item!r}; available: {', '.join(s.name for s in series)}")
        picked.append(match.resolve())
    return picked


def check_kernel(name: str) -> None:
    """Refuse, once and before any work, a Jupyter kernel name that is not registered here."""
    from jupyter_client.kernelspec import KernelSpecManager

    found = sorted(KernelSpecManager().find_kernel_specs())
    if name not in found:
        raise ValueError(
            f"no Jupyter kernel named {name!r} is registered here (found: {', '.join(found) or 'none'}); "
            f"register the project's with `make install` or `python -m ipykernel install --user "
            f"--name talkface-lite`, or pass --kernel with one of those found"
        )


def _execute(pm, nb: Path, target: Path, params: dict, args) -> None:
    """Execute ``nb`` into a scratch copy beside ``target``; only a finished run replaces ``target``.

    On failure the partial copy is kept as ``<stem>.failed.ipynb`` in the output folder and ``target`` (an earlier
    good copy, or the committed notebook with ``--in-place``) is untouched.
    """
    import os
    import shutil

    scratch = Path(args.failed_dir) / f".{target.stem}.running-{os.getpid()}.ipynb"  # never beside the series
    try:
        pm.execute_notebook(
            str(nb),
            str(scratch),
            parameters=params,
            kernel_name=args.kernel,
            cwd=str(nb.parent),
            progress_bar=True,
            request_save_on_cell_execute=True,
            execution_timeout=args.timeout,
        )
    except BaseException:
        if scratch.exists():
            failed = Path(args.failed_dir) / f"{target.stem}.failed.ipynb"
            os.replace(scratch, failed)
            print(f"   partial copy: {failed}")
        raise
    _drop_widget_state(scratch)
    shutil.move(str(scratch), str(target))


def _drop_widget_state(path: Path) -> None:
    """Remove saved ipywidgets state (``metadata.widgets``): a headless run has none worth keeping, and papermill
    would otherwise copy forward the state of whatever run last saved the source notebook."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    if nb.metadata.pop("widgets", None) is not None:
        nbformat.write(nb, str(path))


def run(args) -> int:
    import os

    import papermill as pm

    from .. import repro, viz
    from ..widgets import HEADLESS_ENV

    quick = args.quick
    if args.in_place and not quick:
        raise ValueError("--in-place only executes QUICK mode (the committed notebooks are QUICK); drop --quick False")
    repro.choose_device(args.device)  # fail early on DEVICE=cuda without CUDA
    check_kernel(args.kernel)
    os.environ[HEADLESS_ENV] = "1"  # inherited by every kernel papermill starts: nobody watches them
    root = repro.project_root()
    notebooks = notebook_list(root, args.only)
    out_dir = Path(args.out) if args.out else repro.build_dir() / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    args.failed_dir = out_dir if not args.in_place else repro.build_dir() / "notebooks"
    Path(args.failed_dir).mkdir(parents=True, exist_ok=True)
    mode = "QUICK" if quick else "FULL"
    print(f"reproduce: {len(notebooks)} notebook(s), mode {mode}, device {args.device}, kernel {args.kernel}")
    results = []
    for nb in notebooks:
        target = nb if args.in_place else out_dir / nb.name
        params = {} if args.in_place else {"QUICK": quick, "DEVICE": args.device}
        start = time.time()
        print(f"\n== {nb.name} -> {target}")
        status, error = "ok", ""
        try:
            _execute(pm, nb, target, params, args)
        except Exception as exc:  # noqa: BLE001 - report and go on with the series
            status, error = (
                "FAILED",
                f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}",
            )
        executed = target if status == "ok" else Path(args.failed_dir) / f"{target.stem}.failed.ipynb"
        results.append(
            {
                "notebook": nb.name,
                "status": status,
                "seconds": round(time.time() - start, 1),
                "executed": str(executed),
                "error": error,
            }
        )
        print(f"   {status} in {results[-1]['seconds']:.0f} s {error}")

    manifest = viz.read_manifest()
    print("\nSummary")
    for r in results:
        stem = Path(r["notebook"]).stem
        figs = [m["artifact"] for m in manifest if m["notebook"] == stem]
        print(f"  {r['status']:6s} {r['seconds']:7.1f} s  {r['notebook']}  ({len(figs)} artifacts)")
    summary = {"mode": mode, "device": args.device, "results": results, "commit": repro.git_commit()}
    repro.atomic_write_text(repro.build_dir() / "reproduce_summary.json", json.dumps(summary, indent=2) + "\n")
    print(f"\nExecuted notebooks: {out_dir if not args.in_place else root / 'notebooks'}")
    print(f"Figures and tables: {repro.output_dir()}  (what made each: {repro.output_dir() / viz.MANIFEST_NAME})")
    print(f"Run manifests:      {repro.build_dir() / 'runs'}")
    print(f"Summary:            {repro.build_dir() / 'reproduce_summary.json'}")
    if mode == "QUICK":
        print("QUICK numbers exercise the pipeline; they are not the paper's numbers (run QUICK=False on a GPU).")
    failed = [r for r in results if r["status"] != "ok"]
    if failed:
        print(f"\n{len(failed)} notebook(s) failed: " + ", ".join(r["notebook"] for r in failed), file=sys.stderr)
        return 1
    return 0
