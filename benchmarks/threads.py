"""The thread policy (:mod:`mia_audit.threads`) measured: idle and beside busy processes.

    python benchmarks/threads.py                 # the quick demo: old vs new, idle vs loaded
    python benchmarks/threads.py --sweep         # training steps per model size, 1 vs default threads
    python benchmarks/threads.py --busy 2 --repeats 1 --demo-args "--quick"

Demo mode runs ``mia-audit demo --quick --quiet`` (each run with a fresh, empty reference
cache and output folder) four times: with the old behaviour (``--threads D``, D = torch's
default, pins every loop to D threads as before the policy) and with the new policy (no
flag), each first idle and then beside ``--busy`` processes running
``python -c "while True: pass"``. It prints each wall time, the load average before each
run, and the ratios loaded / idle (the target: at most ~2.5x with two busy processes on
2 cores, where a fair share predicts ~2x) and old / new.

Sweep mode trains models of growing size with ``train_model`` for a fixed number of
optimiser steps on 1 thread and on torch's default, idle and loaded, and prints the
forward multiply-accumulates per batch (:func:`mia_audit.threads.batch_macs`) next to the
seconds: the data behind :data:`mia_audit.threads.MACS_PER_THREAD`.

Measured on the 2-core development machine (Xeon, KVM, torch 2.13 CPU), shared with
other engineers' jobs (load average 0.9-1.1 before the demo runs, most of it this
script's own previous run)::

    mia-audit demo --quick          idle      beside 2 busy   loaded / idle
    old (2 threads everywhere)      35.8 s    153.7 s         4.30x
    new (the policy)                34.3 s     56.6 s         1.65x
    old / new                       1.04x      2.72x

(an earlier run, where the policy covered the training loops only, gave 31.6 s / 80.8 s =
2.56x, against 32.9 s / 171.0 s = 5.20x for the old behaviour: the predictions and
attacks, on 2 threads, were the rest.) The sweep (40 Adam steps, median of 3, seconds)::

    model                MACs/batch   idle 1   idle 2   load 1   load 2
    mlp 64-64             1,442,048     0.03     0.03     0.06     3.13
    mlp 128-128           3,932,416     0.04     0.04     0.09     0.09
    mlp 256-256          12,058,880     0.06     0.06     0.09     0.12
    mlp 512-512          40,894,720     0.13     0.09     0.18     0.18
    mlp 1024-1024       148,898,048     0.45     0.26     0.67     0.93
    mlp 2048-2048       566,231,296     2.02     1.12     3.23     3.09
    cnn 16-32 digits      5,976,704     0.10     0.09     0.15     0.18
    cnn 32-64 32x32     395,403,904     1.48     0.82     2.37     7.60
    8 x mlp 128 batched  31,459,328     0.17     0.13     0.28     4.76
    16 x mlp 256 batched 192,942,080    0.65     0.38     1.04     2.50

Rerun it to measure your machine; timings vary with what else runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import subprocess
import sys
import tempfile
import time

BUSY_CODE = "while True: pass"


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sweep", action="store_true", help="training steps per model size instead of the demo")
    p.add_argument("--busy", type=int, default=2, help="busy processes beside the loaded runs (default 2)")
    p.add_argument("--repeats", type=int, default=1, help="runs per condition; the median is kept")
    p.add_argument("--demo-args", default="--quick", help="arguments of 'mia-audit demo' (default --quick)")
    p.add_argument("--steps", type=int, default=60, help="sweep: optimiser steps per measurement")
    p.add_argument("--idle-only", action="store_true", help="sweep: skip the loaded runs")
    p.add_argument("--only", default=None, help="sweep: only the workloads whose label contains this text")
    return p.parse_args()


@contextlib.contextmanager
def busy(n: int):
    """``n`` processes spinning on a core each, ended (by their pids) on exit."""
    procs = [subprocess.Popen([sys.executable, "-c", BUSY_CODE]) for _ in range(n)]
    try:
        time.sleep(0.5)
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def load() -> str:
    try:
        return "load %.2f %.2f %.2f" % os.getloadavg()
    except OSError:  # pragma: no cover
        return "load ?"


def torch_default_threads() -> int:
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


# ---------------------------------------------------------------------------- demo mode


def demo_seconds(extra: list[str], demo_args: list[str]) -> float:
    exe = os.path.join(os.path.dirname(sys.executable), "mia-audit")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "mia_audit.cli.commands"]
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        env["MIA_AUDIT_CACHE"] = os.path.join(tmp, "cache")  # an empty cache every run
        start = time.perf_counter()
        subprocess.run(cmd + ["demo", *demo_args, "--quiet", "--out", os.path.join(tmp, "out"), *extra],
                       check=True, env=env)
        return time.perf_counter() - start


def run_demo(args: argparse.Namespace) -> None:
    default = torch_default_threads()
    demo_args = shlex.split(args.demo_args)
    conditions = [("old", ["--threads", str(default)]), ("new", [])]
    print(f"mia-audit demo {args.demo_args}: old = --threads {default} (torch's default, every loop), "
          f"new = the policy; loaded = beside {args.busy} x '{BUSY_CODE}'; {os.cpu_count()} CPUs")
    times: dict[tuple[str, str], float] = {}
    for state in ("idle", "loaded"):
        for name, extra in conditions:
            with busy(args.busy) if state == "loaded" else contextlib.nullcontext():
                before = load()
                runs = [demo_seconds(extra, demo_args) for _ in range(args.repeats)]
            times[(name, state)] = median(runs)
            print(f"  {name:<4} {state:<7} {times[(name, state)]:7.1f} s   ({before} before the run)", flush=True)
    for name, _ in conditions:
        print(f"  {name}: loaded / idle = {times[(name, 'loaded')] / times[(name, 'idle')]:.2f}x")
    for state in ("idle", "loaded"):
        print(f"  {state}: old / new = {times[('old', state)] / times[('new', state)]:.2f}x")


# ---------------------------------------------------------------------------- sweep mode


def workloads():
    """(label, model name, input shape, n classes, build params, batch size, models trained in lock-step)."""
    rows = [(f"mlp {h}-{h}", "mlp", (108,), 2, {"hidden": [h, h]}, 128, 1) for h in (64, 128, 256, 512, 1024, 2048)]
    rows += [("cnn 16-32 digits", "cnn", (1, 8, 8), 10, {"channels": [16, 32], "hidden": 64}, 64, 1),
             ("cnn 32-64 32x32", "cnn", (3, 32, 32), 10, {"channels": [32, 64], "hidden": 128}, 64, 1),
             ("8 x mlp 128 batched", "mlp", (108,), 2, {"hidden": [128, 128]}, 128, 8),
             ("16 x mlp 256 batched", "mlp", (108,), 2, {"hidden": [256, 256]}, 128, 16)]
    return rows


def run_sweep(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from mia_audit.models import build_model
    from mia_audit.reference import train_batched
    from mia_audit.threads import batch_macs, use_threads
    from mia_audit.training import TrainRecipe, train_model

    default = torch.get_num_threads()
    rng = np.random.default_rng(0)
    print(f"{args.steps} optimiser steps per run (adam), torch threads 1 vs {default}; "
          f"loaded = beside {args.busy} x '{BUSY_CODE}'; median of {args.repeats}")
    print(f"  {'model':<18} {'MACs/batch':>12} {'idle 1':>8} {'idle ' + str(default):>8} {'load 1':>8} "
          f"{'load ' + str(default):>8}  best idle")
    for label, name, shape, classes, params, batch, k in workloads():
        if args.only and args.only not in label:
            continue
        model = build_model(name, input_shape=shape, n_classes=classes, seed=0, **params)
        X = rng.standard_normal((batch * args.steps, *shape)).astype(np.float32)
        y = rng.integers(0, classes, size=len(X))
        y[:classes] = np.arange(classes)
        macs = batch_macs(model, torch.as_tensor(X[:1]), batch) * k
        recipe = TrainRecipe(epochs=1, batch_size=batch)

        def train(rows=len(X)):
            if k == 1:
                return train_model(model, X[:rows], y[:rows], recipe, seed=0, device="cpu").seconds
            start = time.perf_counter()
            train_batched([model] * k, X, y, [np.arange(rows)] * k, recipe, list(range(k)), device="cpu")
            return time.perf_counter() - start

        train(batch * 4)  # warm-up
        row = {}
        for state in ("idle",) if args.idle_only else ("idle", "load"):
            with busy(args.busy) if state == "load" else contextlib.nullcontext():
                for n in (1, default):
                    with use_threads(n):
                        row[(state, n)] = median([train() for _ in range(args.repeats)])
        best = "1" if row[("idle", 1)] <= row[("idle", default)] else str(default)
        cells = " ".join(f"{row[(s, n)]:8.2f}" if (s, n) in row else f"{'-':>8}"
                         for s in ("idle", "load") for n in (1, default))
        print(f"  {label:<18} {macs:>12,} {cells}  {best}  ({load()})", flush=True)


def main() -> None:
    args = parse()
    print(load(), "at start")
    run_sweep(args) if args.sweep else run_demo(args)


if __name__ == "__main__":
    main()
