"""The CIFAR-10 path end to end at toy scale (a few hundred images, 1 epoch): the loader, the
networks, batched reference models, LiRA / RMIA with the 18 image queries through run_audit, an
unlearner on a narrow ResNet-18 with seed 002's red forget set, and the budget logic of
benchmarks/gpu_check.py (its stage runner, a killed stage, one real stage as a subprocess).

Skipped without ``cifar10_jpeg.npz`` ($MIA_AUDIT_DATA or <repo>/../shared/data); the CUDA test
without a GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"
if str(BENCHMARKS) not in sys.path:  # last, so that its scripts shadow nothing
    sys.path.append(str(BENCHMARKS))

import cifar_common  # noqa: E402  (benchmarks/, not a package)
import gpu_check  # noqa: E402


def _data_dir() -> Path:
    env = os.environ.get("MIA_AUDIT_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


needs_cifar = pytest.mark.skipif(not (_data_dir() / "cifar10_jpeg.npz").is_file(),
                                 reason="cifar10_jpeg.npz not available (set MIA_AUDIT_DATA or provide "
                                        "<repo>/../shared/data)")


@pytest.fixture(scope="module")
def cifar():
    if not (_data_dir() / "cifar10_jpeg.npz").is_file():
        pytest.skip("cifar10_jpeg.npz not available (set MIA_AUDIT_DATA or provide <repo>/../shared/data)")
    from mia_audit.data import load_dataset

    return load_dataset("cifar10", data_dir=_data_dir(), limit=150)


def _validates(result):
    import jsonschema

    from mia_audit.reports.result_json import schema

    jsonschema.validate(json.loads(json.dumps(result, default=str)), schema())


# ---------------------------------------------------------------------------- loader and network


@needs_cifar
def test_loader_gives_the_two_splits_as_one_pool(cifar):
    assert cifar.X.shape == (300, 3, 32, 32) and cifar.X.dtype == np.float32
    assert 0.0 <= cifar.X.min() and cifar.X.max() <= 1.0 and cifar.X.std() > 0.1
    assert cifar.y.shape == (300,) and set(np.unique(cifar.y)) <= set(range(10)) and len(np.unique(cifar.y)) == 10
    assert cifar.meta["original_split"] == {"train": 150, "test": 150} and cifar.kind == "image"


def test_cifar_limit_decodes_just_enough():
    assert cifar_common.cifar_limit(300) == 150
    assert cifar_common.cifar_limit(25000) == 15000  # 15,000 train + all 10,000 test
    assert cifar_common.cifar_limit(60000) is None
    for need in (1, 999, 20001, 59999):
        limit = cifar_common.cifar_limit(need)
        total = 60000 if limit is None else min(limit, 50000) + min(limit, 10000)
        assert total >= need
    with pytest.raises(ValueError):
        cifar_common.cifar_limit(60001)


@needs_cifar
def test_airnet_trains_and_answers_the_18_queries(cifar):
    from mia_audit.models import MODELS, build_model
    from mia_audit.reference.queries import QuerySet, query_signals
    from mia_audit.training import recipe_for, train_model

    if "airnet" not in MODELS.names():
        pytest.skip("airnet is not registered yet")
    net = build_model("airnet", input_shape=(3, 32, 32), n_classes=10, seed=0, **cifar_common.SMALL_PARAMS["airnet"])
    recipe = recipe_for("airnet", "image").replace(epochs=1, batch_size=64, lr=1.5 * 64 / 1024)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    trained = train_model(net, cifar.X[:150], cifar.y[:150], recipe, seed=0, device="cpu")
    assert all(np.array_equal(before[k].numpy(), v.numpy()) for k, v in net.state_dict().items())  # not mutated
    queries = QuerySet.for_data(cifar.X.shape)
    assert queries.n_queries(cifar.X.shape) == 18
    sig = query_signals(trained.model, cifar.X[150:190], cifar.y[150:190], queries)
    assert sig.logit_confidence.shape == (40, 18) and sig.confidence.shape == (40, 18)
    assert np.isfinite(sig.logit_confidence).all() and ((sig.confidence > 0) & (sig.confidence < 1)).all()
    assert np.ptp(sig.logit_confidence, axis=1).max() > 0  # the 18 queries are 18 different images
    assert 0.0 <= cifar_common.accuracy(trained.model, cifar.X[150:], cifar.y[150:]) <= 1.0


# ---------------------------------------------------------------------------- LiRA through run_audit


@needs_cifar
def test_lira_and_rmia_with_18_queries_through_run_audit(tmp_path):
    """The LiRA benchmark's two audits: batched reference models in a store, every reference
    attack on the target's members vs non-members, then the fixed-variance pass on the same
    store; each result valid against the schema; the benchmark's own pool recomputation matches
    the store (the reference models' accuracies need it)."""
    from mia_audit.reference import ReferenceStore
    from mia_audit.reference.jobs import batchable

    store, raw = tmp_path / "store", []
    run = cifar_common.run_lira(model="cnn", data_dir=str(_data_dir()), pool=120, population=30, n_models=4,
                                store=str(store), epochs=1, device="cpu", small=True, n_bootstrap=20, results=raw,
                                executor="batched")  # "auto" trains conv nets one by one on a CPU
    assert len(raw) == 2
    for result in raw:
        _validates(result)
        assert result["reference_models"]["references"]["n_population"] == 30
    opened = ReferenceStore(store)
    assert opened.n_models == 4 and opened.completed() == [0, 1, 2, 3]
    assert batchable(opened.spec) and raw[0]["reference_models"]["references"]["executor"] == "batched"
    assert opened.meta["n_queries"] == 18 == run["n_queries"] and opened.mask.shape == (4, 150)
    assert (opened.mask.sum(axis=0) == 2).all()  # every record IN for exactly half of the models
    sig = opened.signals()
    assert sig.logit_confidence.shape == (4, 150, 18) and np.isfinite(sig.logit_confidence).all()
    rows = {(r["attack"], r["fixed_variance"]): r for r in run["rows"]}
    assert set(rows) == {(a, False) for a in cifar_common.PER_RECORD_ATTACKS} | {
        (a, True) for a in cifar_common.FIXED_VARIANCE_ATTACKS}
    for r in rows.values():
        assert r["applicable"] and r["n_members"] == 60 and r["n_nonmembers"] == 60
        assert 0.0 <= r["auc"] <= 1.0 and r["auc_ci"][0] <= r["auc"] <= r["auc_ci"][1]
        assert 0.0 <= r["tpr_0.1%"] <= r["tpr_1%"] <= 1.0
    assert run["same_target"] is True  # the CPU trains the same target twice, bitwise
    accs = run["reference_accuracy"]["per_model"]
    assert len(accs) == 4 and all(0.0 <= a <= 1.0 for a in accs)
    assert rows[("lira-online", True)]["published"]["auc"] == 0.686
    lines = cifar_common.summary_lines(run)
    assert len(lines) == 1 + len(rows) + 1 and "lira-online fixed-var" in lines[5]


# ---------------------------------------------------------------------------- an unlearner on ResNet-18


@needs_cifar
def test_an_unlearner_on_a_narrow_resnet18_with_the_red_forget_set():
    import unlearner_table
    from mia_audit.config import AttackConfig, AuditConfig, ForgetConfig, MetricsConfig
    from mia_audit.run.pipeline import run_audit

    config = AuditConfig(
        data=cifar_common.cifar_data_config(str(_data_dir()), train_size=200, test_size=80),
        model=cifar_common.model_config("resnet18", epochs=1, small=True, training={"batch_size": 64}),
        forget=ForgetConfig(kind="predicate", predicate="red", size=20),
        attacks=AttackConfig(names=["loss"], members=["forget"]), metrics=MetricsConfig(n_bootstrap=0),
        unlearners=[{"name": "finetune", "epochs": 1}], seed=0, device="cpu")
    result = run_audit(config, show_progress=False)
    _validates(result)
    assert 0 < result["data"]["n_forget"] <= 20
    models = {m["name"]: m for m in result["models"]}
    assert {"original", "retrain", "finetune"} <= set(models)
    assert models["finetune"]["time_ratio"] > 0 and models["finetune"]["unlearner"] == "finetune"
    for m in models.values():
        assert all(0.0 <= v <= 1.0 for v in m["accuracy"].values())
    text = unlearner_table.table("cifar10-resnet18-red", result)
    assert "| finetune (simple) |" in text and "seed 002 reports" in text and "original (before unlearning)" in text


def test_every_seed002_method_is_a_registered_unlearner():
    import unlearner_table
    from mia_audit.unlearners import UNLEARNERS

    assert set(unlearner_table.SEED002) <= set(UNLEARNERS.names())
    assert len(unlearner_table.SEED002) == 8  # seven challenge solutions and "simple" (finetune)
    assert set(unlearner_table.SEED002) <= set(unlearner_table.SEED002_REPORTED)
    specs = unlearner_table.cases(str(_data_dir()), train_size=2000, small=True, batch_size=64)
    assert specs["cifar10-resnet18-red"][2].predicate == "red" and specs["cifar10-resnet18-red"][2].size == 21
    assert specs["cifar10-resnet18"][1].params == {"width": 8}
    assert specs["cifar10-airnet"][1].training["lr"] == pytest.approx(1.5 * 64 / 1024)


# ---------------------------------------------------------------------------- gpu_check: budget and stages


def test_allowance_shares_what_is_left():
    assert gpu_check.allowance(100, 0, 0.25, 1.0, 0) == pytest.approx(25)
    assert gpu_check.allowance(100, 10, 0.25, 0.75, 10) == pytest.approx(80 / 3)  # an unused share flows on
    assert gpu_check.allowance(100, 60, 0.5, 0.5, 10) == pytest.approx(30)  # the last stage gets the rest
    assert gpu_check.allowance(100, 95, 0.5, 0.5, 10) == 0.0


def test_the_lira_plan_fits_the_estimates():
    fast = {"train_batched": 1e-7, "train_sequential": 1e-6, "query": 1e-6, "overhead": 1.0}
    assert gpu_check.choose_lira_plan(300, 10, fast)[0] == gpu_check.LIRA_PLANS[0]
    slow = {"train_batched": 1e-5, "train_sequential": 1e-4, "query": 1e-4}
    plan, cost = gpu_check.choose_lira_plan(300, 10, slow)
    assert plan != gpu_check.LIRA_PLANS[0] and cost <= 0.8 * 300
    assert all(gpu_check.lira_cost(*p, 10, slow) > 0.8 * 300 for p in gpu_check.LIRA_PLANS[:gpu_check.LIRA_PLANS.index(plan)])
    assert gpu_check.choose_lira_plan(300, 10, None) == (gpu_check.LIRA_PLANS[-1], None)
    assert gpu_check.choose_lira_plan(1, 10, slow)[0] == gpu_check.LIRA_PLANS[-1]


def test_run_stages_records_failures_skips_what_does_not_fit_and_always_writes(tmp_path):
    now = [0.0]
    seen = []

    def runner(name, payload, seconds):
        seen.append((name, round(seconds, 3), payload))
        written = json.loads(out.read_text())  # the report exists before and between stages
        assert written["status"] == "running"
        if name == "a":
            now[0] += 50.0
            return {"status": "ok", "value": 1}
        raise RuntimeError("stage b broke")

    out = tmp_path / "r.json"
    report = gpu_check.run_stages([("a", 0.5), ("b", 0.25), ("c", 0.25)], budget_s=100, reserve_s=10,
                                  min_stage_s=25, out=out, report={"status": "running"}, runner=runner,
                                  payload_for=lambda name, done: {"done": sorted(done)},
                                  line_for=lambda name, r: f"{name} {r['status']}", clock=lambda: now[0])
    # after a, 40 s are left: b's share is 20 s < 25, skipped; c then gets all 40 s (b's share flows on)
    assert [(s[0], s[1]) for s in seen] == [("a", 45.0), ("c", 40.0)] and seen[1][2] == {"done": ["a", "b"]}
    written = json.loads(out.read_text())
    assert written["stages"]["a"] == {"status": "ok", "value": 1}
    assert written["stages"]["b"]["status"] == "skipped" and "20 s" in written["stages"]["b"]["error"]
    assert written["stages"]["c"]["status"] == "failed"
    assert written["status"] == "done" and report["elapsed_s"] == 50.0

    now[0] = 0.0
    seen.clear()
    report = gpu_check.run_stages([("a", 0.5), ("b", 0.5), ("c", 0.0001)], budget_s=1000, reserve_s=0, min_stage_s=0,
                                  out=out, report={"status": "running"}, runner=runner,
                                  payload_for=lambda name, done: {}, line_for=lambda name, r: name)
    assert report["stages"]["b"]["status"] == "failed" and "stage b broke" in report["stages"]["b"]["error"]
    assert [s[0] for s in seen] == ["a", "b", "c"]  # a failure does not stop the next stage


def test_a_stage_past_its_allowance_is_killed_and_keeps_what_it_recorded(tmp_path):
    script = tmp_path / "slow_stage.py"
    script.write_text(
        "import json, sys, time\n"
        "out = sys.argv[sys.argv.index('--stage-out') + 1]\n"
        "json.dump({'status': 'running', 'first': 1}, open(out, 'w'))\n"
        "time.sleep(60)\n")
    record = gpu_check.run_child("slow", {"x": 1}, 4.0, tmp_path, script=script)
    assert record["status"] == "timeout" and record["first"] == 1 and record["seconds"] < 30
    assert "share of the budget" in record["error"]
    assert json.loads((tmp_path / "slow.in.json").read_text())["x"] == 1


@needs_cifar
def test_gpu_check_airnet_stage_runs_as_a_child_on_the_cpu(tmp_path):
    out = tmp_path / "check.json"
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "gpu_check.py"), "--device", "cpu", "--toy",
                           "--stages", "airnet", "--out", str(out), "--data-dir", str(_data_dir())],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["status"] == "done" and report["mode"] == "toy"
    stage = report["stages"]["airnet"]
    assert stage["status"] == "ok", stage.get("error")
    for label, n in (("half", 150), ("all", 300)):
        run = stage["runs"][label]
        assert run["n_train"] == n
        assert all(0.0 <= run[key] <= 1.0 for key in ("test_accuracy", "test_accuracy_no_flip",
                                                      "test_accuracy_flip_and_shifts"))
    assert proc.stdout.splitlines()[0].startswith("airnet: ok")


# ---------------------------------------------------------------------------- CUDA only


def test_airnet_reference_models_on_cuda(tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    from mia_audit.models import MODELS
    from mia_audit.reference import train_references
    from mia_audit.training import recipe_for

    if "airnet" not in MODELS.names():
        pytest.skip("airnet is not registered yet")
    rng = np.random.default_rng(0)
    X = rng.random((256, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, 256)
    store = train_references(tmp_path / "s", X, y, model="airnet", n_models=4, seed=0,
                             recipe=recipe_for("airnet", "image").replace(epochs=1, batch_size=64),
                             model_params=cifar_common.SMALL_PARAMS["airnet"], n_classes=10, device="cuda")
    sig = store.signals()
    assert sig.logit_confidence.shape == (4, 256, 18) and np.isfinite(sig.logit_confidence).all()


# ---------------------------------------------------------------------------- the README's config, through the CLI


def _readme_cifar_toml() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("```toml\n# cifar10.toml") + len("```toml\n")
    return text[start:text.index("```", start)]


def test_the_readme_cifar_config_is_a_valid_audit():
    """The README's CIFAR-10 file, as printed: valid keys and values (it is not run at this size)."""
    import tomllib

    from mia_audit.config import AuditConfig

    config = AuditConfig.from_dict(tomllib.loads(_readme_cifar_toml()))
    assert config.data.name == "cifar10" and config.model.name == "airnet"
    assert config.references.n_models == 16 and config.attacks.members == ["train"]
    assert {"lira-online", "lira-offline", "rmia-online", "rmia-offline"} <= set(config.attacks.names)


@needs_cifar
def test_the_readme_cifar_config_runs_from_the_cli_at_toy_scale(tmp_path):
    """``mia-audit run cifar10.toml`` with the README's file, shrunk (60 + 60 images, narrow airnet,
    1 epoch, 4 reference models): exit 0 or 1 as the verdict says, a report.json valid against the
    schema, every named attack run on the original with 18 queries per image."""
    import tomllib

    from mia_audit.cli import main

    raw = tomllib.loads(_readme_cifar_toml())
    raw["data"].update(train_size=60, test_size=60, data_dir=str(_data_dir()), options={"limit": 100})
    raw["model"].update(params=dict(cifar_common.SMALL_PARAMS["airnet"]), training={"epochs": 1, "batch_size": 32})
    raw["references"].update(n_models=4, population=30, store=str(tmp_path / "store"))
    raw["device"] = "cpu"
    raw["metrics"] = {"n_bootstrap": 0}
    path = tmp_path / "cifar10.toml"
    path.write_text("\n".join(_toml_lines(raw)), encoding="utf-8")
    out = tmp_path / "out"
    code = main(["run", str(path), "--out", str(out), "--quiet"])
    result = json.loads((out / "report.json").read_text(encoding="utf-8"))
    _validates(result)
    assert code == (1 if result["verdict"]["status"] == "fail" else 0)
    entries = [e for e in result["results"] if e["model"] == "original" and e["members"] == "train"]
    assert {e["attack"] for e in entries if e["applicable"]} == set(raw["attacks"]["names"])
    refs = result["reference_models"]["references"]
    assert refs["n_models"] == 4 and refs["n_queries"] == 18
    assert "18 augmented queries per record" in (out / "summary.md").read_text(encoding="utf-8")
    assert (out / "report.pdf").is_file()


def _toml_lines(raw: dict, prefix: str = "") -> list[str]:
    """A small TOML writer for the test's own table (numbers, strings, lists, inline tables)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        return repr(v)

    lines = [f"{k} = {value(v)}" for k, v in raw.items() if not isinstance(v, dict)]
    for k, v in raw.items():
        if isinstance(v, dict):
            lines += [f"[{prefix}{k}]"] + [f"{kk} = {value(vv)}" for kk, vv in v.items()]
    return lines


# ---------------------------------------------------------------- benchmarks/jpeg_effect.py (no data needed)


def _truncated_batch(images: np.ndarray, keep_bytes: int) -> bytes:
    """A stand-in for a truncated python batch: pickle-like opcodes, the array's BINSTRING header, its
    rows, cut at ``keep_bytes`` of the rows."""
    import jpeg_effect

    head = b"\x80\x02}q\x00(U\x06labelsq\x01]q\x02(K\x06K\tK\te" + b"cnumpy\ndtype\n" + jpeg_effect.ARRAY_HEADER
    return head + images.tobytes()[:keep_bytes]


def test_jpeg_effect_reads_the_complete_rows_of_a_truncated_batch(tmp_path):
    import jpeg_effect

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 3, 32, 32), dtype=np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(_truncated_batch(images, 3 * jpeg_effect.ROW + 100))  # 3 whole rows and a part
    got = jpeg_effect.exact_images(path)
    assert got.shape == (3, 3, 32, 32) and np.array_equal(got, images[:3])
    path.write_bytes(b"no array here")
    with pytest.raises(SystemExit, match="header"):
        jpeg_effect.exact_images(path)


def test_jpeg_effect_refuses_a_wrong_pairing():
    import jpeg_effect

    rng = np.random.default_rng(1)
    exact = rng.integers(0, 256, size=(6, 3, 32, 32), dtype=np.uint8)
    noisy = np.clip(exact.astype(int) + rng.integers(-6, 7, size=exact.shape), 0, 255).astype(np.uint8)
    checks = jpeg_effect.check_pairing(exact, noisy, "test")
    assert checks["mae_mean"] < 4.0 < 60.0 < checks["mae_to_next_image_mean"]
    with pytest.raises(SystemExit, match="pairing is wrong"):
        jpeg_effect.check_pairing(exact, np.roll(noisy, 1, axis=0), "test")
