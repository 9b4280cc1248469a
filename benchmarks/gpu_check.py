"""One unattended GPU check of the CIFAR-10 path, within a time budget: figures to one JSON file.

Three stages, each in a child process of its own that the script kills when its share of
the budget runs out (what the stage recorded until then is kept):

1. ``airnet``: the fast airbench-style network with its own recipe, trained on a random half
   of the 50,000 CIFAR-10 training images and then on all of them (if the first run says it
   fits); test accuracy on the 10,000 test images with the test-time flip (the model's default),
   without it, and with the flip and two one-pixel shifts (airbench's level 2), and
   seconds (after a short warm-up run, CUDA synchronised);
2. ``references``: K reference models trained batched (torch.func, K per GPU) against the
   sequential loop on a few of them and against 4 processes sharing the device, each training
   its models one by one (the toolkit's ``train_references`` with each executor):
   seconds, models per minute, the ratio, each model's held-out accuracy; and the cost of the
   18 LiRA queries per record, which sizes stage 3;
3. ``lira``: the LiRA benchmark of ``cifar_lira.py`` (LiRA online / offline, per-record and
   fixed variance, RMIA online / offline) at the largest K and pool that the measured speeds
   fit into the stage's share (64 models on 50,000 records at most).

    python benchmarks/gpu_check.py --data-dir ../shared/data --out gpu_check.json          # 8 minutes
    python benchmarks/gpu_check.py --quick --out gpu_check.json                            # 3 minutes
    python benchmarks/gpu_check.py --device cpu --toy --out toy.json                       # a CPU smoke run

One line per stage on stdout; the JSON is rewritten after every stage (and when the script is
interrupted), so it always holds what was measured. A stage that fails is recorded with its
error and the log's tail; the others still run. ``--toy``: a few hundred images, 1 epoch, the
narrow networks, for a smoke run on a CPU. Needs only torch, this package and the CIFAR-10 file
(``--data-dir``, default ``$MIA_AUDIT_DATA`` or ``../shared/data``); writes only below a
temporary folder (removed) and ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

if str(Path(__file__).resolve().parent) not in sys.path:  # imported from elsewhere (the tests)
    sys.path.append(str(Path(__file__).resolve().parent))
from cifar_common import write_json  # noqa: E402  (this folder, not a package)

#: (stage, share of the budget); a stage gets its share of what is left, so time an earlier
#: stage did not use goes to the later ones
STAGES = (("airnet", 0.25), ("references", 0.30), ("lira", 0.45))
BUDGET_S = {"full": 480.0, "quick": 180.0, "toy": 300.0}
RESERVE_S = {"full": 15.0, "quick": 10.0, "toy": 5.0}  # kept back for killing a child and writing the JSON
MIN_STAGE_S = {"full": 20.0, "quick": 15.0, "toy": 3.0}  # a stage with less is skipped
KILL_GRACE_S = 3.0
LOG_TAIL = 3000

#: LiRA plans, largest first: (K, pool, population)
LIRA_PLANS = ((64, 50000, 1000), (32, 50000, 1000), (16, 50000, 1000), (16, 20000, 1000), (8, 10000, 500),
              (4, 4000, 200), (4, 1000, 100))
TOY_LIRA = (4, 120, 40)
PROCESSES = 4  # worker processes sharing one device in the references stage's "processes" run


# ---------------------------------------------------------------------------- budget (pure)


def allowance(budget_s: float, elapsed_s: float, share: float, shares_left: float, reserve_s: float) -> float:
    """Seconds a stage may run: its share of what is left of the budget (after the reserve),
    among the stages still to run (``shares_left`` includes this one's share)."""
    left = budget_s - elapsed_s - reserve_s
    if left <= 0 or shares_left <= 0:
        return 0.0
    return left * min(1.0, share / shares_left)


def lira_cost(k: int, pool: int, population: int, epochs: int, est: dict[str, float]) -> float:
    """Estimated seconds of the LiRA benchmark: K reference models (training batched, 18 queries
    on the whole pool each), two targets trained one by one, six target query passes, the
    reference models' accuracy, and a fixed overhead for loading and the attacks' arithmetic."""
    n_ref = pool + population
    train_b = est["train_batched"]  # s per record-epoch per model, batched
    train_s = est.get("train_sequential", train_b)
    query = est["query"]  # s per record for the 18 queries
    return (k * (n_ref / 2 * epochs * train_b + n_ref * query) + 2 * pool / 2 * epochs * train_s
            + 6 * pool * query + k * min(n_ref / 2, 10000) * query / 18 + est.get("overhead", 20.0))


def choose_lira_plan(seconds: float, epochs: int, est: Optional[dict[str, float]],
                     plans=LIRA_PLANS) -> tuple[tuple[int, int, int], Optional[float]]:
    """The largest plan whose estimated cost fits 80 % of ``seconds`` (the smallest when none
    does, or when there is no estimate: then the 16-model one on 20,000 records on a GPU is
    not guessed at); returns (plan, estimated seconds)."""
    if not est:
        return plans[-1], None
    for plan in plans:
        cost = lira_cost(*plan, epochs, est)
        if cost <= 0.8 * seconds:
            return plan, cost
    return plans[-1], lira_cost(*plans[-1], epochs, est)


# ---------------------------------------------------------------------------- stage runner


class Recorder:
    """What a stage measured, rewritten to ``path`` at every ``set`` (so a killed stage
    leaves what it had)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.data: dict[str, Any] = {"status": "running"}
        write_json(self.path, self.data)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value
        write_json(self.path, self.data)


def run_child(name: str, payload: dict[str, Any], timeout_s: float, workdir: Path,
              script: str | Path = __file__) -> dict[str, Any]:
    """Run stage ``name`` in a child process for at most ``timeout_s`` seconds; return what it
    recorded with its ``status``: ok | failed | timeout."""
    inp, outp, log = workdir / f"{name}.in.json", workdir / f"{name}.out.json", workdir / f"{name}.log"
    payload = {**payload, "deadline": time.time() + max(timeout_s - KILL_GRACE_S, 1.0)}
    write_json(inp, payload)
    env = {**os.environ, "MIA_AUDIT_CACHE": str(workdir / "cache"), "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    with open(log, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, str(script), "--run-stage", name, "--stage-in", str(inp),
                                 "--stage-out", str(outp)], stdout=log_file, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)
        _CHILDREN.append(proc)
        try:
            rc = proc.wait(timeout=timeout_s)
            status = "ok" if rc == 0 else "failed"
        except subprocess.TimeoutExpired:
            _kill(proc)
            rc, status = None, "timeout"
        finally:
            _CHILDREN.remove(proc)
    seconds = time.perf_counter() - start
    try:
        record = json.loads(outp.read_text())
    except (OSError, ValueError):
        record = {}
    record.update(status=status, seconds=seconds, allowed_s=timeout_s, returncode=rc)
    if status != "ok":
        try:
            record["log_tail"] = log.read_text(errors="replace")[-LOG_TAIL:]
        except OSError:
            pass
        if status == "timeout":
            record.setdefault("error", f"stopped after its {timeout_s:.0f} s share of the budget")
    return record


_CHILDREN: list[subprocess.Popen] = []


def _kill(proc: subprocess.Popen) -> None:
    """SIGTERM to the child's process group, SIGKILL after a grace period."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_stages(stages, *, budget_s: float, reserve_s: float, min_stage_s: float, out: str | Path,
               report: dict[str, Any], runner: Callable[[str, dict[str, Any], float], dict[str, Any]],
               payload_for: Callable[[str, dict[str, Any]], dict[str, Any]],
               line_for: Callable[[str, dict[str, Any]], str], clock: Callable[[], float] = time.perf_counter,
               ) -> dict[str, Any]:
    """Run each stage through ``runner(name, payload, seconds)`` within its allowance; the
    report (``report["stages"]``) is written to ``out`` before the first stage and after every
    one, and one line per stage is printed. A stage whose allowance is under ``min_stage_s`` is
    skipped; a runner that raises is recorded as failed."""
    start = clock()
    report.setdefault("stages", {})
    write_json(out, report)
    total_share = sum(share for _, share in stages)
    used_share = 0.0
    for name, share in stages:
        allowed = allowance(budget_s, clock() - start, share, total_share - used_share, reserve_s)
        used_share += share
        if allowed < min_stage_s:
            record = {"status": "skipped", "error": f"{allowed:.0f} s of the budget left for it (needs {min_stage_s:.0f})"}
        else:
            try:
                record = runner(name, payload_for(name, report["stages"]), allowed)
            except Exception as exc:  # noqa: BLE001 - recorded, the next stage runs
                record = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                          "traceback": traceback.format_exc()[-LOG_TAIL:]}
        report["stages"][name] = record
        report["elapsed_s"] = clock() - start
        write_json(out, report)
        print(line_for(name, record), flush=True)
    report["elapsed_s"] = clock() - start
    report["status"] = "done"
    write_json(out, report)
    return report


# ---------------------------------------------------------------------------- the stages (children)


def _setup(s: dict[str, Any]):
    """(torch, device string, the environment section) for a stage."""
    import torch

    from mia_audit.device import resolve_device
    from mia_audit.environment import environment

    device = str(resolve_device(s["device"]))
    return torch, device, environment(device)


def _load(s: dict[str, Any], n_train: Optional[int] = None):
    """CIFAR-10 (only ``n_train`` images of each split with ``--toy``) and its split sizes."""
    from mia_audit.data import load_dataset

    from cifar_common import resolve_data_dir

    data = load_dataset("cifar10", data_dir=resolve_data_dir(s.get("data_dir")), limit=n_train)
    sizes = data.meta["original_split"]
    return data, int(sizes["train"]), int(sizes["test"])


def _left(s: dict[str, Any]) -> float:
    return s["deadline"] - time.time()


def stage_airnet(rec: Recorder, s: dict[str, Any]) -> None:
    import numpy as np

    from mia_audit.models import build_model
    from mia_audit.training import recipe_for, train_model

    from cifar_common import SMALL_PARAMS, accuracy

    torch, device, env = _setup(s)
    rec.set("environment", env)
    toy = s["mode"] == "toy"
    data, n_tr, n_te = _load(s, 300 if toy else None)
    X_tr, y_tr, X_te, y_te = data.X[:n_tr], data.y[:n_tr], data.X[n_tr:], data.y[n_tr:]
    params = SMALL_PARAMS["airnet"] if toy else {}
    recipe = recipe_for("airnet", "image")
    if toy:
        recipe = recipe.replace(epochs=1)
    rec.set("settings", {"params": params, "recipe": recipe.to_dict(), "n_train": n_tr, "n_test": n_te})

    def build():
        return build_model("airnet", input_shape=(3, 32, 32), n_classes=10, seed=0, **params)

    if device != "cpu":  # kernels chosen, memory pools filled: not in the timed runs
        t = train_model(build(), X_tr[:2048], y_tr[:2048], recipe.replace(epochs=1), seed=1, device=device)
        rec.set("warmup_s", t.seconds)
    rows = np.random.default_rng(0).permutation(n_tr)[: n_tr // 2]
    runs = {}
    for label, idx in (("half", rows), ("all", None)):
        X, y = (X_tr, y_tr) if idx is None else (X_tr[idx], y_tr[idx])
        if runs and _left(s) < 2.5 * runs["half"]["seconds"]:
            runs[label] = {"skipped": f"about {2.2 * runs['half']['seconds']:.0f} s needed, {_left(s):.0f} s left"}
            rec.set("runs", runs)
            continue
        t = train_model(build(), X, y, recipe, seed=0, device=device)
        net = t.model
        with_flip = accuracy(net, X_te, y_te)
        net.tta = 2
        flip_and_shifts = accuracy(net, X_te, y_te)
        net.tta = False
        runs[label] = {"n_train": int(len(y)), "seconds": t.seconds, "test_accuracy": with_flip,
                       "test_accuracy_no_flip": accuracy(net, X_te, y_te),
                       "test_accuracy_flip_and_shifts": flip_and_shifts, "epochs": recipe.epochs,
                       "images_per_second": len(y) * recipe.epochs / t.seconds, "device": str(t.device)}
        rec.set("runs", runs)
        del net, t
        if device.startswith("cuda"):
            torch.cuda.empty_cache()


def stage_references(rec: Recorder, s: dict[str, Any]) -> None:
    import numpy as np

    from mia_audit.reference import ReferenceStore, train_references
    from mia_audit.reference.queries import QuerySet, query_signals
    from mia_audit.training import recipe_for

    from cifar_common import SMALL_PARAMS, accuracy, batch_ready

    torch, device, env = _setup(s)
    rec.set("environment", env)
    mode, model = s["mode"], s["model"]
    pool, ks, k_seq = {"toy": (200, [4], 2), "quick": (10000, [16], 2), "full": (20000, [16, 64], 4)}[mode]
    data, n_tr, _ = _load(s, pool if mode == "toy" else None)
    X, y = data.X[:pool], data.y[:pool]
    params = SMALL_PARAMS.get(model, {}) if mode == "toy" else {}
    recipe = recipe_for(model, "image")
    if mode == "toy":
        recipe = recipe.replace(epochs=1)
    rec.set("settings", {"model": model, "params": params, "recipe": recipe.to_dict(), "pool": pool,
                         "batched_trainer_takes_it": batch_ready(model), "queries_while_training": 1})
    root = Path(tempfile.mkdtemp(prefix="refs-", dir=s["workdir"]))
    runs: list[dict[str, Any]] = []
    estimates: dict[str, float] = {}

    def one(executor: str, k: int) -> dict[str, Any]:
        path = root / f"{executor}-{k}"
        runner: Any = executor
        if executor == "processes":  # several processes per device, each training its models one by one
            from mia_audit.reference import ProcessExecutor

            runner = ProcessExecutor(n_jobs=PROCESSES, models_per_job=max(1, k // PROCESSES))
        start = time.perf_counter()
        store = train_references(path, X, y, model=model, n_models=k, seed=0, recipe=recipe, model_params=params,
                                 n_classes=10, queries="none", executor=runner, device=device, progress=False)
        seconds = time.perf_counter() - start
        accs = [accuracy(store.load_model(j, device=device), X[~store.mask[j]][:5000], y[~store.mask[j]][:5000])
                for j in range(k)]
        per_record_epoch = seconds / (k * (pool / 2) * recipe.epochs)
        return {"executor": executor, "k": k, "seconds": seconds, "models_per_minute": 60 * k / seconds,
                "accuracy": accs, "mean_accuracy": float(np.mean(accs)), "s_per_record_epoch": per_record_epoch,
                "store": store}

    # the first K batched, then the sequential loop on k_seq models (the ratio), then the first K in
    # PROCESSES processes sharing the device (issue 14 §2: torch.func or processes, by measurement),
    # then larger K batched
    plan = ([("batched", ks[0]), ("sequential", k_seq), ("processes", ks[0])]
            + [("batched", k) for k in ks[1:]])
    for executor, k in plan:
        done = [x for x in runs if "seconds" in x and x["executor"] == "batched"]
        if not done:
            need = 0.0
        elif executor == "batched":
            need = 1.5 * done[-1]["seconds"] * k / done[-1]["k"] + 10
        elif executor == "processes":  # as the sequential loop, shared by the processes (plus their start)
            need = 4 * k * estimates.get("train_sequential", estimates["train_batched"]) * pool / 2 \
                * recipe.epochs / PROCESSES + 30
        else:  # the sequential loop is slower per model than the batched one: allow 4x
            need = 4 * k * estimates["train_batched"] * pool / 2 * recipe.epochs + 10
        if (executor != "batched" and not done) or _left(s) < need:
            runs.append({"executor": executor, "k": k, "skipped": f"about {need:.0f} s needed, {_left(s):.0f} s left"})
            rec.set("runs", runs)
            continue
        r = one(executor, k)
        store: ReferenceStore = r.pop("store")
        if executor == "sequential":
            estimates["train_sequential"] = r["s_per_record_epoch"]
            r["batched_speedup"] = done[0]["models_per_minute"] / r["models_per_minute"]
        elif executor == "processes":
            r["processes"] = PROCESSES
            r["batched_speedup"] = done[0]["models_per_minute"] / r["models_per_minute"]
        else:
            estimates["train_batched"] = r["s_per_record_epoch"]
        if "query" not in estimates:  # the 18 LiRA queries of one model, per record
            net = store.load_model(0, device=device)
            m = min(pool, 2000)
            start = time.perf_counter()
            query_signals(net, X[:m], y[:m], QuerySet(flip=True, shift=1))
            estimates["query"] = (time.perf_counter() - start) / m
        runs.append(r)
        rec.set("runs", runs)
        rec.set("estimates", estimates)
    shutil.rmtree(root, ignore_errors=True)


def stage_lira(rec: Recorder, s: dict[str, Any]) -> None:
    from cifar_common import run_lira

    torch, device, env = _setup(s)
    rec.set("environment", env)
    mode = s["mode"]
    epochs = 1 if mode == "toy" else None
    if mode == "toy":
        plan, cost = TOY_LIRA, None
    else:
        from mia_audit.training import recipe_for

        epochs_of_recipe = recipe_for(s["model"], "image").epochs
        plan, cost = choose_lira_plan(_left(s), epochs_of_recipe, s.get("estimates"))
    k, pool, population = plan
    rec.set("plan", {"n_models": k, "pool": pool, "population": population, "estimated_s": cost,
                     "estimates": s.get("estimates")})
    store = Path(tempfile.mkdtemp(prefix="lira-", dir=s["workdir"])) / "store"
    run_lira(model=s["model"], data_dir=s.get("data_dir"), pool=pool, population=population, n_models=k,
             store=str(store), epochs=epochs, device=device, small=mode == "toy",
             n_bootstrap=50 if mode == "toy" else 200, deadline=s["deadline"],
             on_update=lambda out: rec.set("run", json.loads(json.dumps(out, default=str))))
    shutil.rmtree(store.parent, ignore_errors=True)


STAGE_FUNCS: dict[str, Callable[[Recorder, dict[str, Any]], None]] = {
    "airnet": stage_airnet, "references": stage_references, "lira": stage_lira}


def child_main(name: str, inp: str, outp: str) -> int:
    rec = Recorder(outp)
    try:
        STAGE_FUNCS[name](rec, json.loads(Path(inp).read_text()))
    except BaseException as exc:  # noqa: BLE001 - recorded for the parent
        rec.data["traceback"] = traceback.format_exc()[-LOG_TAIL:]
        rec.set("error", f"{type(exc).__name__}: {exc}"[:1000])
        return 1
    rec.data.pop("status", None)
    write_json(outp, rec.data)
    return 0


# ---------------------------------------------------------------------------- lines


def _fmt(x: Any, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def stage_line(name: str, r: dict[str, Any]) -> str:
    """One line per stage for stdout."""
    head = f"{name}: {r.get('status')} ({_fmt(r.get('seconds'), '.0f')} s of {_fmt(r.get('allowed_s'), '.0f')})"
    if r.get("status") not in ("ok", "timeout"):
        return f"{head}: {r.get('error')}"
    parts = []
    if name == "airnet":
        for label, run in (r.get("runs") or {}).items():
            parts.append(f"{label} {run.get('n_train')} -> acc {_fmt(run.get('test_accuracy'))} "
                         f"(tta 2 {_fmt(run.get('test_accuracy_flip_and_shifts'))}) in "
                         f"{_fmt(run.get('seconds'), '.1f')} s" if "seconds" in run else f"{label} skipped")
    elif name == "references":
        if (r.get("settings") or {}).get("batched_trainer_takes_it") is False:
            parts.append(f"the batched trainer does not take {r['settings']['model']}: both loops are sequential")
        for run in r.get("runs") or []:
            if "seconds" not in run:
                parts.append(f"{run['executor']} K={run['k']} skipped")
                continue
            parts.append(f"{run['executor']} K={run['k']}: {run['seconds']:.1f} s, {run['models_per_minute']:.1f} "
                         f"models/min, mean acc {run['mean_accuracy']:.3f}"
                         + (f", batched/{run['executor']} speed {run['batched_speedup']:.2f}x"
                            if "batched_speedup" in run else ""))
    elif name == "lira":
        run = r.get("run") or {}
        plan = r.get("plan") or {}
        parts.append(f"K={plan.get('n_models')} pool {plan.get('pool')}")
        for row in run.get("rows", []):
            if row.get("auc") is not None:
                parts.append(f"{row['attack']}{'-fixed' if row['fixed_variance'] else ''} AUC {row['auc']:.3f} "
                             f"TPR@0.1% {100 * row['tpr_0.1%']:.2f}%")
        acc = (run.get("target") or {}).get("accuracy", {}).get("test")
        parts.append(f"target acc {_fmt(acc)}")
    return head + ": " + "; ".join(parts)


# ---------------------------------------------------------------------------- main


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu_check.json", help="the JSON file of every figure")
    p.add_argument("--device", default="auto", help="auto | cuda | cuda:N | cpu")
    p.add_argument("--data-dir", default=None, help="folder of cifar10_jpeg.npz")
    p.add_argument("--model", default=None, help="network of stages 2 and 3 (default airnet when reference-ready)")
    p.add_argument("--quick", action="store_true", help="a 3-minute budget")
    p.add_argument("--toy", action="store_true", help="a few hundred images, 1 epoch (CPU smoke run)")
    p.add_argument("--budget", type=float, default=None, help="seconds in all (default 480; --quick 180; --toy 300)")
    p.add_argument("--stages", nargs="+", default=[n for n, _ in STAGES], choices=[n for n, _ in STAGES])
    p.add_argument("--run-stage", default=None, help=argparse.SUPPRESS)
    p.add_argument("--stage-in", default=None, help=argparse.SUPPRESS)
    p.add_argument("--stage-out", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    if args.run_stage:
        return child_main(args.run_stage, args.stage_in, args.stage_out)
    mode = "toy" if args.toy else "quick" if args.quick else "full"
    budget = float(args.budget or BUDGET_S[mode])
    from cifar_common import default_model

    model = args.model or default_model(small=mode == "toy")
    workdir = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    report: dict[str, Any] = {"benchmark": "gpu_check", "status": "running", "mode": mode, "budget_s": budget,
                              "device": args.device, "model": model, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                              "python": sys.version.split()[0]}
    base = {"mode": mode, "device": args.device, "data_dir": args.data_dir, "model": model, "workdir": str(workdir)}

    def payload_for(name: str, done: dict[str, Any]) -> dict[str, Any]:
        estimates = (done.get("references") or {}).get("estimates")
        return {**base, **({"estimates": estimates} if name == "lira" and estimates else {})}

    def on_signal(signum, frame):  # interrupted: stop the child, keep what was measured
        for proc in list(_CHILDREN):
            _kill(proc)
        stages = report.setdefault("stages", {})
        for name, _ in STAGES:  # the stage that was running: what it had recorded
            partial = workdir / f"{name}.out.json"
            if name not in stages and partial.is_file():
                try:
                    stages[name] = {**json.loads(partial.read_text()), "status": "interrupted"}
                except (OSError, ValueError):
                    pass
        report["status"] = f"interrupted (signal {signum})"
        write_json(args.out, report)
        shutil.rmtree(workdir, ignore_errors=True)
        os._exit(130)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        run_stages([(n, s) for n, s in STAGES if n in args.stages], budget_s=budget, reserve_s=RESERVE_S[mode],
                   min_stage_s=MIN_STAGE_S[mode], out=args.out, report=report,
                   runner=lambda name, payload, seconds: run_child(name, payload, seconds, workdir),
                   payload_for=payload_for, line_for=stage_line)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"figures in {args.out} ({report.get('elapsed_s', 0):.0f} s of a {budget:.0f} s budget)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
