"""The prepared GPU check: one command that fits a 15-minute device window.

A session lent a GPU has minutes, not hours, so everything the CUDA side must show runs in one go, within
``--budget-s`` seconds of wall time (default 480), each step skipped with the reason when too little time is
left for it:

1. ``environment``: GPU name, driver, torch and CUDA versions, nvcc, CPU count.
2. ``build``: both CUDA extensions (hash encoding, packed compositing), build seconds each.
3. ``parity``: the CUDA parity tests (``tests/test_hashgrid_kernel.py``: 2D/3D, F = 1/2/4/8, fp32/fp16,
   forward and backward incl. d/dx; ``tests/test_composite_kernel.py``: packed compositing forward and
   backward) with their tolerances, run by pytest.
4. ``bench_encoding``: forward+backward points/s at 2^16..2^20 points, the PyTorch reference, our kernel
   and tiny-cuda-nn (when it imports) side by side; the target is >= 30x the reference at 2^20.
5. ``bench_render``: packed compositing rays/s; the target is >= 10x the reference at the largest batch.
6. ``mini_run``: a FULL-preset run of the talking head on a synthetic speaker at 512x512, time-boxed:
   steps/s, held-out PSNR after the budget (beside the mean-frame baseline), rendering frames/s.

``--dry-run`` runs the same plumbing on the CPU at small sizes: the CUDA parts are reported as skipped with
what would run on a GPU, the rest is real (CPU kernel builds, the benchmarks' CPU backends, a tiny QUICK
run). The test suite runs it, so the script cannot rot.

Writes ``gpu_check.md`` (the report: environment, steps, targets, every table) and ``gpu_check.csv``
(every measurement, one per row) and ``gpu_check.log`` (pytest output, tracebacks) into ``--out``
(default ``$OUT`` when set, else ``build/gpu-check/``). Three files: a device machine returns at most eight.
Exit status 1 when a step failed (a target missed is reported, not a failure).

    make gpu-check                 # on the GPU machine (no install needed: torch, numpy, scipy, matplotlib, tqdm)
    make gpu-check DRY_RUN=1       # here, on the CPU
    python benchmarks/gpu_check.py --dry-run --out /tmp/gc

Explained in the README's "GPU check" section.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the package from this checkout, installed or not

import torch  # noqa: E402

ENCODING_TARGET = 30.0  # CUDA hash encoding at 2^20 points, forward+backward, vs the PyTorch reference
RENDER_TARGET = 10.0  # packed compositing at the largest batch vs the PyTorch reference


def _bench(name: str):
    """A benchmark script of this folder as a module (they are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclasses.dataclass
class Step:
    name: str
    status: str = "ran"  # ran | skipped | failed
    seconds: float = 0.0
    detail: str = ""
    tables: List[str] = dataclasses.field(default_factory=list)  # Markdown blocks for the report


class Check:
    """Runs the steps in order within a wall-time budget and collects what they measure."""

    def __init__(self, out: Path, dry_run: bool, budget_s: float):
        self.out, self.dry_run, self.budget_s = out, dry_run, budget_s
        self.t0 = time.perf_counter()
        self.steps: List[Step] = []
        self.measures: List[dict] = []
        self.targets: List[dict] = []
        self.device = torch.device("cpu" if dry_run or not torch.cuda.is_available() else "cuda")
        self.log = open(out / "gpu_check.log", "w")

    def left_s(self) -> float:
        return self.budget_s - (time.perf_counter() - self.t0)

    def measure(self, step: str, name: str, value, unit: str = "") -> None:
        self.measures.append({"step": step, "name": name, "value": value, "unit": unit})

    def target(self, what: str, value: Optional[float], goal: float) -> None:
        met = "not measured" if value is None else ("PASS" if value >= goal else "MISS")
        self.targets.append(
            {"target": what, "measured": "" if value is None else value, "goal": f">= {goal:g}", "result": met}
        )

    def run(self, name: str, fn: Callable[["Check", Step], None], needs_s: float) -> None:
        step = Step(name)
        self.steps.append(step)
        left = self.left_s()
        if left < needs_s:
            step.status, step.detail = "skipped", f"budget: {left:.0f} s left, needs about {needs_s:.0f} s"
            print(f"[{name}] skipped ({step.detail})", flush=True)
            return
        print(f"[{name}] ...", flush=True)
        t0 = time.perf_counter()
        try:
            fn(self, step)
        except Exception as exc:  # noqa: BLE001 - one broken step must not hide the others' numbers
            step.status, step.detail = "failed", f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
            self.log.write(f"== {name} failed\n{traceback.format_exc()}\n")
        step.seconds = round(time.perf_counter() - t0, 1)
        print(f"[{name}] {step.status} in {step.seconds} s: {step.detail}", flush=True)


# ---------------------------------------------------------------------------------------------- steps


def step_environment(check: Check, step: Step) -> None:
    from talkface_lite.kernels import build

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda or "none",
        "cpus": os.cpu_count(),
        "mode": "dry run (CPU)" if check.dry_run else "GPU",
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        env["capability"] = "sm_%d%d" % torch.cuda.get_device_capability(0)
        env["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    else:
        env["gpu"] = "none visible"
    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        env["driver"] = smi.stdout.strip().splitlines()[0] if smi.returncode == 0 and smi.stdout.strip() else "none"
    except (OSError, subprocess.TimeoutExpired):
        env["driver"] = "none (no nvidia-smi)"
    home = build.find_cuda_home()
    env["nvcc"] = "none"
    if home is not None:
        nvcc = subprocess.run([str(Path(home) / "bin" / "nvcc"), "--version"], capture_output=True, text=True)
        env["nvcc"] = nvcc.stdout.strip().splitlines()[-1] if nvcc.returncode == 0 else "does not run"
    for k, v in env.items():
        check.measure("environment", k, v)
    step.detail = f"{env['gpu']}, driver {env['driver']}, torch {env['torch']} (CUDA {env['torch_cuda']})"


def step_build(check: Check, step: Step) -> None:
    from talkface_lite.kernels import build
    from talkface_lite.kernels import composite as kc
    from talkface_lite.kernels import hashgrid as khg
    from talkface_lite.kernels import hashgrid_cpu as khc

    if check.device.type == "cuda":
        loaders = {khg.EXT_NAME: khg.load, kc.EXT_NAME: kc.kernel_module}
        kind = "CUDA"
    else:  # the dry run builds what this machine can: the C++ CPU kernels
        loaders = {khc.EXT_NAME: khc.load, kc.CPU_EXT_NAME: kc.cpu_kernel_module}
        kind = "C++ CPU"
    done = []
    for name, load in loaders.items():
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", build.KernelFallbackWarning)
            ok = load() is not None
        sec = round(time.perf_counter() - t0, 1)
        st = build.status(name)
        check.measure("build", f"{name} seconds", sec, "s")
        check.measure("build", f"{name} built", ok)
        if not ok:
            raise RuntimeError(f"{kind} extension {name} did not build: {st.reason if st else 'unknown'}")
        done.append(f"{name} {sec} s")
    step.detail = f"{kind}: " + ", ".join(done)
    if check.device.type != "cuda":
        step.detail += f"; on a GPU would build {khg.EXT_NAME} and {kc.EXT_NAME}"


def _pytest_counts(xml_path: Path) -> Dict[str, int]:
    root = ET.parse(xml_path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    total = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    total["passed"] = total["tests"] - total["failures"] - total["errors"] - total["skipped"]
    return total


def step_parity(check: Check, step: Step) -> None:
    files = ["tests/test_hashgrid_kernel.py", "tests/test_composite_kernel.py"]
    xml_path = check.out / ".parity.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", f"--junitxml={xml_path}", *files]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    if check.dry_run:
        env["CUDA_VISIBLE_DEVICES"] = ""  # the dry run reports what would run on a GPU
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=max(60, int(check.left_s())))
    check.log.write(f"== parity: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}\n")
    counts = _pytest_counts(xml_path)
    xml_path.unlink()
    for k in ("passed", "failures", "errors", "skipped"):
        check.measure("parity", k, counts[k])
    step.detail = (
        f"{counts['passed']} passed, {counts['failures'] + counts['errors']} failed, {counts['skipped']} skipped"
    )
    if check.device.type != "cuda":
        step.status = "skipped"
        step.detail = f"needs a CUDA device: on a GPU would run {counts['tests']} tests ({step.detail} here)"
        return
    if proc.returncode != 0:
        raise RuntimeError(f"parity tests failed: {step.detail} (see gpu_check.log)")


def step_bench_encoding(check: Check, step: Step) -> None:
    from talkface_lite import viz

    bench = _bench("bench_encoding")
    if check.device.type == "cuda":
        sizes, backends, repeats = [2**k for k in range(16, 21)], ["torch", "cuda", "tcnn"], 5
    else:
        sizes, backends, repeats = [2**10, 2**12], ["torch", "cpu"], 2
    rows = bench.run_sweep(sizes, check.device, backends=backends, repeats=repeats, progress=False)
    cols = ["grid", "backend", "n_points", "fwd_bwd_ms", "mpoints_per_s", "speedup_vs_torch", "peak_mem_mib", "status"]
    step.tables.append("#### bench_encoding\n\n" + viz.markdown_table(rows, cols))
    ours = "cuda" if check.device.type == "cuda" else "cpu"
    for r in rows:
        if r["status"] == "ok":
            check.measure(
                "bench_encoding",
                f"{r['grid']}/{r['backend']}/2^{r['n_points'].bit_length() - 1} Mpts/s",
                r["mpoints_per_s"],
                "M points/s",
            )
    largest = max(sizes)
    parts = []
    for grid in bench.GRIDS:
        hit = [r for r in rows if r["grid"] == grid and r["backend"] == ours and r["n_points"] == largest]
        ratio = float(hit[0]["speedup_vs_torch"]) if hit and hit[0]["speedup_vs_torch"] != "" else None
        if check.device.type == "cuda":
            check.target(f"hash encoding {grid}, 2^20 points fwd+bwd, CUDA / PyTorch", ratio, ENCODING_TARGET)
        parts.append(f"{grid} {ours}/torch {ratio}x at 2^{largest.bit_length() - 1}")
    step.detail = "; ".join(parts)


def step_bench_render(check: Check, step: Step) -> None:
    from talkface_lite import viz

    bench = _bench("bench_render")
    sizes, repeats = ([4096, 65536, 262144], 5) if check.device.type == "cuda" else ([256, 1024], 2)
    backends = bench.available_backends(check.device)
    rows = bench.run_sweep(sizes, check.device, backends, samples=64, repeats=repeats, progress=False)
    step.tables.append(
        "#### bench_render\n\n"
        + viz.markdown_table(rows, ["backend", "n_rays", "n_samples", "ms", "rays_per_s", "speedup_vs_torch"])
    )
    for r in rows:
        check.measure("bench_render", f"{r['backend']}/{r['n_rays']} rays/s", r["rays_per_s"], "rays/s")
    ours = "cuda" if check.device.type == "cuda" else ("cpu" if "cpu" in backends else "twin")
    hit = [r for r in rows if r["backend"] == ours and r["n_rays"] == max(sizes)]
    ratio = float(hit[0]["speedup_vs_torch"]) if hit else None
    if check.device.type == "cuda":
        check.target(f"packed compositing, {max(sizes)} rays fwd+bwd, CUDA / PyTorch", ratio, RENDER_TARGET)
    step.detail = f"{ours}/torch {ratio}x at {max(sizes)} rays"


def step_mini_run(check: Check, step: Step) -> None:
    from talkface_lite import metrics, repro
    from talkface_lite.data.dataset import load_dataset, write_dataset
    from talkface_lite.data.synthetic import generate_speaker
    from talkface_lite.training import TrainConfig, read_metrics, render_frames, train

    gpu = check.device.type == "cuda"
    seconds, size = (8.0, 512) if gpu else (3.0, 48)
    train_s = min(150.0, max(10.0, check.left_s() - 90)) if gpu else 60.0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rec = generate_speaker(seconds, size, seed=0, progress=False, workers=min(16, os.cpu_count() or 1))
        write_dataset(rec, Path(tmp) / "speaker", val_fraction=0.25, progress=False)
        check.measure("mini_run", "synthetic speaker seconds", round(time.perf_counter() - t0, 1), "s")
        ds = load_dataset(Path(tmp) / "speaker")
        if gpu:  # the FULL preset; steps bounded by the time box, not by the paper's 80k
            config = TrainConfig.full(coarse_steps=20000, fine_steps=0, dlt_steps=300, ckpt_every=10**6)
        else:
            config = TrainConfig.quick(
                coarse_steps=30,
                fine_steps=0,
                dlt_steps=20,
                n_rays=256,
                n_samples=16,
                grid_resolution=16,
                ckpt_every=10**6,
            )
        deadline = [None]

        def should_stop() -> bool:  # the clock starts at the first step (after the DLT fit)
            if deadline[0] is None:
                deadline[0] = time.perf_counter() + train_s
            return time.perf_counter() > deadline[0]

        repro.seed_everything(0)
        head = train(
            ds.root, Path(tmp) / "run", config, device=check.device.type, progress=False, should_stop=should_stop
        )
        wall = read_metrics(Path(tmp) / "run")["wall_s"]
        first = min(10, len(wall) - 1)  # the first steps include warm-up (allocations, kernel loading)
        rate = (len(wall) - 1 - first) / (wall[-1] - wall[first]) if wall[-1] > wall[first] else float("nan")
        val = [int(i) for i in ds.split("val")][:: max(1, len(ds.split("val")) // 8)][:8]
        render_frames(head, val[:1], progress=False)  # warm-up
        if gpu:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        images = render_frames(head, val, progress=False)
        if gpu:
            torch.cuda.synchronize()
        fps = len(val) / (time.perf_counter() - t0)
        truth = torch.stack([ds.image(i) for i in val])
        train_idx = ds.split("train")
        mean_frame = torch.stack([ds.image(int(i)) for i in train_idx[:: max(1, len(train_idx) // 50)]]).mean(0)
        p_run = float(metrics.psnr_frames(images.cpu(), truth)[0].mean())
        p_mean = float(metrics.psnr_frames(mean_frame.expand_as(truth), truth)[0].mean())
    preset = "FULL" if gpu else "QUICK (tiny)"
    for name, value, unit in (
        ("preset", preset, ""),
        ("resolution", f"{size}x{size}", ""),
        ("steps", head.step, ""),
        ("steps per s (after 10)", round(rate, 2), "1/s"),
        ("rays per s", round(rate * config.n_rays), "1/s"),
        ("held-out PSNR", round(p_run, 2), "dB"),
        ("mean-frame PSNR", round(p_mean, 2), "dB"),
        ("render frames per s", round(fps, 2), "1/s"),
    ):
        check.measure("mini_run", name, value, unit)
    step.detail = (
        f"{preset} {size}x{size}: {head.step} of at most {config.total_steps} steps, time box {train_s:.0f} s "
        f"({rate:.1f} steps/s); "
        f"held-out PSNR {p_run:.2f} dB (mean frame {p_mean:.2f}); render {fps:.2f} frames/s"
    )


STEPS = [
    ("environment", step_environment, 5),
    ("build", step_build, 60),
    ("parity", step_parity, 40),
    ("bench_encoding", step_bench_encoding, 40),
    ("bench_render", step_bench_render, 20),
    ("mini_run", step_mini_run, 120),
]


def write_report(check: Check) -> Path:
    from talkface_lite import viz

    env = {m["name"]: m["value"] for m in check.measures if m["step"] == "environment"}
    lines = [
        "# GPU check",
        "",
        f"Mode: **{'dry run on the CPU (CUDA parts skipped)' if check.dry_run else 'GPU'}**, "
        f"budget {check.budget_s:.0f} s, wall {time.perf_counter() - check.t0:.0f} s.",
        "",
    ]
    if env:
        lines += [
            "| " + " | ".join(env) + " |",
            "|" + "---|" * len(env),
            "| " + " | ".join(map(str, env.values())) + " |",
            "",
        ]
    lines += [
        "## Steps",
        "",
        viz.markdown_table([dataclasses.asdict(s) for s in check.steps], ["name", "status", "seconds", "detail"]),
        "",
    ]
    if check.targets:
        lines += ["## Targets", "", viz.markdown_table(check.targets, ["target", "measured", "goal", "result"]), ""]
    for s in check.steps:
        lines += [t + "\n" for t in s.tables]
    lines += ["## Measurements", "", viz.markdown_table(check.measures, ["step", "name", "value", "unit"]), ""]
    report = check.out / "gpu_check.md"
    report.write_text("\n".join(lines))
    import csv

    with open(check.out / "gpu_check.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["step", "name", "value", "unit"])
        w.writeheader()
        w.writerows(
            check.measures
            + [{"step": "steps", "name": s.name, "value": s.status, "unit": f"{s.seconds} s"} for s in check.steps]
        )
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU plumbing check: CUDA parts skipped, small sizes")
    parser.add_argument("--out", default=None, help="output folder (default: $OUT, else build/gpu-check)")
    parser.add_argument("--budget-s", type=float, default=480.0, help="wall-time budget in seconds (default 480)")
    parser.add_argument("--only", default=None, help="comma list of steps to run (default: all)")
    args = parser.parse_args(argv)
    names = [n for n, _, _ in STEPS]
    only = names if args.only is None else [s.strip() for s in args.only.split(",")]
    unknown = sorted(set(only) - set(names))
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}: choose from {', '.join(names)}")
    if args.budget_s <= 0:
        parser.error(f"--budget-s must be positive, got {args.budget_s:g}")
    if not args.dry_run and not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA device visible; run with --dry-run (make gpu-check DRY_RUN=1) to check the "
            "plumbing on the CPU",
            file=sys.stderr,
        )
        return 2
    out = Path(args.out or os.environ.get("OUT") or ROOT / "build" / "gpu-check")
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TALKFACE_FIGURES", tempfile.mkdtemp(prefix="gpu-check-figures-"))  # nothing into figures/
    check = Check(out, args.dry_run, args.budget_s)
    try:
        for name, fn, needs in STEPS:
            if name in only:
                check.run(name, fn, needs)
    finally:
        report = write_report(check)
        check.log.close()
    print(f"wrote {report}, {report.with_suffix('.csv')}, {report.with_suffix('.log')}")
    for t in check.targets:
        print(f"target: {t['target']}: {t['measured']} ({t['goal']}) {t['result']}")
    return 1 if any(s.status == "failed" for s in check.steps) else 0


if __name__ == "__main__":
    sys.exit(main())
