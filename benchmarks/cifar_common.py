"""What the CIFAR-10 benchmarks share (``cifar_lira.py``, ``unlearner_table.py``, ``gpu_check.py``):
finding the data, picking the network, the LiRA benchmark as one function over ``run_audit``,
and the reference models' held-out accuracy.

Not a module of the package: the scripts import it from their own folder (``python
benchmarks/cifar_lira.py`` puts ``benchmarks/`` on ``sys.path``).

The LiRA benchmark (Carlini et al. 2022, section VI): a pool of CIFAR-10 records; the target
trains on a random half of it (``data.train_size`` = ``data.test_size`` = pool / 2), K reference
models of the same recipe each on a random half of the pool plus ``population`` records outside
it (RMIA's z), and every attack scores the target's members against its non-members with the
18 flip / shift queries. One ``run_audit`` runs LiRA online and offline (per-record variances)
and RMIA online and offline; a second ``run_audit`` with the same settings (so the same target:
bitwise on the CPU, to GPU rounding otherwise; its weights' sha256 is compared) reuses the
stored reference models for LiRA online and offline with ``fixed_variance``. The attack options
are keyed by attack name in ``AttackConfig.options``, so one audit cannot run one attack twice
with two settings.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CIFAR_FILE = "cifar10_jpeg.npz"
CIFAR_TRAIN, CIFAR_TEST = 50000, 10000  # images in the file's two original splits

#: narrow versions of each network for CPU runs and tests
SMALL_PARAMS: dict[str, dict[str, Any]] = {
    "airnet": {"widths": [16, 32, 32]},
    "resnet18": {"width": 8},
    "cnn": {"channels": [16, 32], "hidden": 64},
}

#: the first pass (per-record variances) and the second (fixed_variance=True) of the LiRA benchmark
PER_RECORD_ATTACKS = ("lira-online", "lira-offline", "rmia-online", "rmia-offline")
FIXED_VARIANCE_ATTACKS = ("lira-online", "lira-offline")

#: Carlini et al. 2022, 16 WRN28-2 reference models on CIFAR-10 (about 91 % test accuracy)
PUBLISHED_LIRA = {
    ("lira-online", False): {"auc": 0.668, "0.001": 0.017},
    ("lira-online", True): {"auc": 0.686, "0.001": 0.059},
    ("lira-offline", False): {"auc": 0.549},
}
PUBLISHED_NOTE = "Carlini et al. 2022, 16 WRN28-2 at ~91 % test accuracy"


def write_json(path: str | Path, data: Any) -> None:
    """``data`` as JSON at ``path``, atomically (a temporary name in the same folder, then a rename)."""
    import json

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- data


def resolve_data_dir(arg: Optional[str] = None) -> Path:
    """``arg``, else ``$MIA_AUDIT_DATA``, else ``<repo>/../shared/data`` (as the tests look)."""
    if arg:
        return Path(arg)
    env = os.environ.get("MIA_AUDIT_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def cifar_available(data_dir: Optional[str | Path] = None) -> bool:
    return (resolve_data_dir(None if data_dir is None else str(data_dir)) / CIFAR_FILE).is_file()


def cifar_limit(n_needed: int) -> Optional[int]:
    """The smallest ``limit`` of ``load_dataset("cifar10")`` that decodes at least ``n_needed``
    images (``limit`` applies to each original split; None: all 60,000)."""
    n_needed = int(n_needed)
    if n_needed > CIFAR_TRAIN + CIFAR_TEST:
        raise ValueError(f"CIFAR-10 has {CIFAR_TRAIN + CIFAR_TEST} images; {n_needed} were asked for")
    limit = -(-n_needed // 2)
    if limit > CIFAR_TEST:
        limit = n_needed - CIFAR_TEST
    return None if limit >= CIFAR_TRAIN else limit


def cifar_data_config(data_dir: Optional[str], *, train_size: int, test_size: int,
                      validation_size: Optional[int] = None, extra: int = 0):
    """A ``DataConfig`` of CIFAR-10 decoding only the images the split needs (plus ``extra``:
    population records)."""
    from mia_audit.config import DataConfig

    need = int(train_size) + int(test_size) + int(validation_size or 0) + int(extra)
    limit = cifar_limit(need)
    return DataConfig(name="cifar10", data_dir=str(resolve_data_dir(data_dir)), train_size=int(train_size),
                      test_size=int(test_size), validation_size=validation_size,
                      options={} if limit is None else {"limit": limit})


# ---------------------------------------------------------------------------- networks


def reference_ready(model: str) -> tuple[bool, str]:
    """Whether the toolkit can train reference models of ``model`` on CIFAR images (its
    reference spec accepts it), and why not."""
    try:
        from mia_audit.reference.spec import ReferenceSpec
        from mia_audit.training import recipe_for

        ReferenceSpec(architecture=model, input_shape=(3, 32, 32), n_classes=10, recipe=recipe_for(model, "image"),
                      n_models=2, seed=0, params=dict(SMALL_PARAMS.get(model, {})))
    except Exception as exc:  # noqa: BLE001 - any refusal means "not ready"
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""


def batch_ready(model: str) -> bool:
    """Whether the batched (torch.func) trainer takes ``model`` (else it trains one by one)."""
    ok, _ = reference_ready(model)
    if not ok:
        return False
    from mia_audit.reference.jobs import batchable
    from mia_audit.reference.spec import ReferenceSpec
    from mia_audit.training import recipe_for

    return batchable(ReferenceSpec(architecture=model, input_shape=(3, 32, 32), n_classes=10,
                                   recipe=recipe_for(model, "image"), n_models=2, seed=0,
                                   params=dict(SMALL_PARAMS.get(model, {}))))


def default_model(*, small: bool = False) -> str:
    """``airnet`` once the toolkit trains reference models of it; until then ``resnet18``
    (``cnn`` for small CPU runs, where ResNet-18 is slow)."""
    if reference_ready("airnet")[0]:
        return "airnet"
    return "cnn" if small else "resnet18"


def model_config(model: str, *, epochs: Optional[int] = None, small: bool = False,
                 params: Optional[dict[str, Any]] = None, training: Optional[dict[str, Any]] = None):
    """A ``ModelConfig``: the model's default recipe with ``epochs``, narrow (``small``) or with
    ``params``; ``training``: more recipe fields."""
    from mia_audit.config import ModelConfig

    chosen = dict(SMALL_PARAMS.get(model, {})) if small else {}
    chosen.update(params or {})
    fields = dict(training or {})
    if epochs is not None:
        fields["epochs"] = int(epochs)
    return ModelConfig(name=model, params=chosen, training=fields)


def batch_training(model: str, batch_size: Optional[int] = None, lr: Optional[float] = None) -> dict[str, Any]:
    """Recipe fields for another batch size: ``batch_size`` and the learning rate scaled linearly
    from the model's default recipe (airnet's recipe note: 1.5 * B / 1024), unless ``lr`` is given."""
    from mia_audit.training import recipe_for

    fields: dict[str, Any] = {}
    if batch_size is not None:
        recipe = recipe_for(model, "image")
        fields["batch_size"] = int(batch_size)
        fields["lr"] = recipe.lr * int(batch_size) / recipe.batch_size
    if lr is not None:
        fields["lr"] = float(lr)
    return fields


def accuracy(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    """Share of ``X`` that ``model`` (anything ``as_adapter`` takes) labels ``y``."""
    from mia_audit.adapters import as_adapter

    if len(y) == 0:
        return float("nan")
    return float(np.mean(as_adapter(model).predict_labels(X) == np.asarray(y)))


# ---------------------------------------------------------------------------- the LiRA benchmark


def lira_config(*, model: str, data_dir: Optional[str], pool: int, population: int, n_models: int,
                store: str, epochs: Optional[int], device: str, seed: int = 0, small: bool = False,
                params: Optional[dict[str, Any]] = None, fixed_variance: bool = False, n_bootstrap: int = 200,
                training: Optional[dict[str, Any]] = None, executor: str = "auto"):
    """The audit of one pass of the LiRA benchmark (see the module docstring); ``executor``:
    how the reference models train ("auto": batched on a GPU, one by one for convolutional
    nets on the CPU)."""
    from mia_audit.config import AttackConfig, AuditConfig, ForgetConfig, MetricsConfig, ReferenceConfig

    half = int(pool) // 2
    names = FIXED_VARIANCE_ATTACKS if fixed_variance else PER_RECORD_ATTACKS
    options = {n: {"fixed_variance": True} for n in names} if fixed_variance else {}
    return AuditConfig(
        data=cifar_data_config(data_dir, train_size=half, test_size=half, extra=population),
        model=model_config(model, epochs=epochs, small=small, params=params, training=training),
        forget=ForgetConfig(kind="random", size=1),  # not used: the attacks score members = train
        attacks=AttackConfig(names=list(names), members=["train"], options=options),
        metrics=MetricsConfig(n_bootstrap=n_bootstrap),
        references=ReferenceConfig(n_models=int(n_models), store=str(store), population=int(population),
                                   executor=executor),
        seed=seed, device=device)


def audit_pool(config: Any, dataset: Any = None) -> tuple[Any, np.ndarray]:
    """``(dataset, pool)``: the records the reference models of ``config``'s audit train on
    (train + test + population, as the pipeline draws them; indices into the dataset). The
    caller checks them against the store (``ReferenceStore.check_data``)."""
    from mia_audit.data import load_configured_dataset, make_split
    from mia_audit.run.pipeline import validation_indices
    from mia_audit.seeding import derive_seed, rng

    dataset = dataset if dataset is not None else load_configured_dataset(config.data)
    split = make_split(dataset, train_size=config.data.train_size, test_size=config.data.test_size,
                       stratify=dataset.y if config.data.stratify else None, seed=derive_seed(config.seed, "split"))
    val = validation_indices(split, config)
    used = np.r_[split.train, split.test, [] if val is None else val].astype(np.int64)
    spare = np.setdiff1d(np.arange(split.n), used)
    population = rng(config.seed, "population").permutation(spare)[:min(config.references.population, spare.size)]
    return dataset, np.sort(np.r_[split.train, split.test, population]).astype(np.int64)


def reference_accuracies(config: Any, store_path: str | Path, *, device: str = "cpu", dataset: Any = None,
                         max_records: int = 10000) -> list[float]:
    """Each reference model's accuracy on (at most ``max_records`` of) the pool records it did
    not train on (its held-out "test" accuracy)."""
    from mia_audit.reference import ReferenceStore

    dataset, pool = audit_pool(config, dataset)
    X, y = dataset.X[pool], dataset.y[pool]
    store = ReferenceStore(store_path)
    store.check_data(X, y)  # the pool drawn here is the store's own, or this raises
    out = []
    for k in range(store.n_models):
        rows = np.flatnonzero(~store.mask[k])[:max_records]
        out.append(accuracy(store.load_model(k, device=device), X[rows], y[rows]))
    return out


def entry_row(entry: dict[str, Any], *, fixed_variance: bool) -> dict[str, Any]:
    """The figures of one result entry, with the published ones beside them."""
    tpr, ci = entry.get("tpr_at_fpr") or {}, entry.get("tpr_at_fpr_ci") or {}
    return {"attack": entry["attack"], "fixed_variance": fixed_variance, "applicable": entry.get("applicable", True),
            "reason": entry.get("reason"), "auc": entry.get("auc"), "auc_ci": entry.get("auc_ci"),
            "tpr_0.1%": tpr.get("0.001"), "tpr_0.1%_ci": ci.get("0.001"), "tpr_1%": tpr.get("0.01"),
            "tpr_1%_ci": ci.get("0.01"), "n_members": entry.get("n_members"),
            "n_nonmembers": entry.get("n_nonmembers"), "warnings": entry.get("warnings", []),
            "published": PUBLISHED_LIRA.get((entry["attack"], fixed_variance))}


def _interval(ci: Any, scale: float = 1.0, digits: int = 3) -> str:
    if not ci or ci[0] is None:
        return ""
    return f" [{scale * ci[0]:.{digits}f}, {scale * ci[1]:.{digits}f}]"


def row_line(row: dict[str, Any]) -> str:
    """One printed line per attack: ours (with CIs) and the published figures."""
    name = row["attack"] + (" fixed-var" if row["fixed_variance"] else "")
    if not row["applicable"] or row["auc"] is None:
        return f"{name:<24} not run: {row.get('reason')}"
    text = (f"{name:<24} AUC {row['auc']:.3f}{_interval(row['auc_ci'])}  "
            f"TPR@0.1% {100 * row['tpr_0.1%']:.2f}%{_interval(row['tpr_0.1%_ci'], 100, 2)}  "
            f"TPR@1% {100 * row['tpr_1%']:.2f}%{_interval(row['tpr_1%_ci'], 100, 2)}")
    pub = row.get("published")
    if pub:
        text += f"  | published AUC {pub['auc']:.3f}"
        if "0.001" in pub:
            text += f", TPR@0.1% {100 * pub['0.001']:.1f}%"
    return text


def run_lira(*, model: str, data_dir: Optional[str], pool: int, population: int, n_models: int, store: str,
             epochs: Optional[int], device: str, seed: int = 0, small: bool = False,
             params: Optional[dict[str, Any]] = None, n_bootstrap: int = 200, fixed_variance_pass: bool = True,
             reference_accuracy: bool = True, deadline: Optional[float] = None,
             on_update: Optional[Callable[[dict[str, Any]], None]] = None, show_progress: bool = False,
             training: Optional[dict[str, Any]] = None, results: Optional[list] = None,
             executor: str = "auto") -> dict[str, Any]:
    """The LiRA benchmark with ``n_models`` reference models (see the module docstring).

    Returns a JSON-able dict: settings, ``rows`` (one per attack and variance), the target's
    accuracies, the reference models' held-out accuracies, seconds per pass, and ``skipped``
    (what the ``deadline``, a ``time.time()`` value, left out). ``on_update(partial)`` is called
    after each step with what is known so far; ``results``: a list that receives each pass's
    whole audit result (schema v1).
    """
    from mia_audit.run.pipeline import run_audit

    common = dict(model=model, data_dir=data_dir, pool=pool, population=population, n_models=n_models, store=store,
                  epochs=epochs, device=device, seed=seed, small=small, params=params, n_bootstrap=n_bootstrap,
                  training=training, executor=executor)
    config = lira_config(**common)
    out: dict[str, Any] = {"model": model, "params": config.model.params, "training": config.model.training,
                           "pool": int(pool), "population": int(population), "n_models": int(n_models),
                           "store": str(store), "device": device, "seed": seed, "rows": [], "skipped": [],
                           "seconds": {}}

    def update() -> None:
        if on_update is not None:
            on_update(out)

    start = time.perf_counter()
    result = run_audit(config, show_progress=show_progress)
    first = time.perf_counter() - start
    if results is not None:
        results.append(result)
    out["seconds"]["per_record_pass"] = first
    original = next(m for m in result["models"] if m["name"] == "original")
    out["target"] = {"accuracy": original["accuracy"], "seconds": original["seconds"], "sha256": original["sha256"]}
    out["environment"] = result["environment"]
    out["n_queries"] = _n_queries(store)
    out["rows"] = [entry_row(e, fixed_variance=False) for e in result["results"]
                   if e["model"] == "original" and e["mitigation"] == "none"]
    update()
    # a second pass retrains the target and re-queries it for two attacks: about the first pass
    # without the reference models (already stored)
    second_estimate = max(first - _store_seconds(store), 0.0) * 0.75
    if fixed_variance_pass:
        if deadline is not None and time.time() + second_estimate > deadline:
            out["skipped"].append(f"fixed-variance pass (needs about {second_estimate:.0f} s)")
        else:
            start = time.perf_counter()
            fixed = run_audit(lira_config(**common, fixed_variance=True), show_progress=show_progress)
            if results is not None:
                results.append(fixed)
            out["seconds"]["fixed_variance_pass"] = time.perf_counter() - start
            target = next(m for m in fixed["models"] if m["name"] == "original")
            out["same_target"] = target["sha256"] == original["sha256"]
            out["rows"] += [entry_row(e, fixed_variance=True) for e in fixed["results"]
                            if e["model"] == "original" and e["mitigation"] == "none"]
            update()
    if reference_accuracy:
        if deadline is not None and time.time() + 0.1 * first > deadline:
            out["skipped"].append("reference models' accuracy")
        else:
            start = time.perf_counter()
            accs = reference_accuracies(config, store, device=device)
            out["seconds"]["reference_accuracy"] = time.perf_counter() - start
            out["reference_accuracy"] = {"mean": float(np.mean(accs)), "sd": float(np.std(accs)),
                                         "per_model": accs, "on": "each model's held-out pool records"}
            update()
    return out


def _store_seconds(store: str | Path) -> float:
    """Seconds the store's models took to train and query (0 when there is none)."""
    try:
        from mia_audit.reference import ReferenceStore

        s = ReferenceStore(store)
        return float(sum(s.model_info(k)["seconds"] for k in s.completed()))
    except Exception:  # noqa: BLE001 - only an estimate
        return 0.0


def _n_queries(store: str | Path) -> Optional[int]:
    try:
        from mia_audit.reference import ReferenceStore

        return int(ReferenceStore(store).meta["n_queries"])
    except Exception:  # noqa: BLE001
        return None


def summary_lines(run: dict[str, Any]) -> list[str]:
    """The printed block of one LiRA run: a header, one line per attack, the accuracies."""
    acc = run.get("target", {}).get("accuracy", {})
    lines = [f"LiRA benchmark: {run['model']} {run['params'] or ''}, K={run['n_models']} reference models, "
             f"pool {run['pool']} (target trains on {run['pool'] // 2}), population {run['population']}, "
             f"{run.get('n_queries')} queries, device {run.get('environment', {}).get('device', run['device'])}"]
    lines += [row_line(r) for r in run["rows"]]
    ref = run.get("reference_accuracy")
    lines.append(f"target test accuracy {acc.get('test', float('nan')):.3f} (train {acc.get('train', float('nan')):.3f})"
                 + (f"; reference models' mean held-out accuracy {ref['mean']:.3f} (sd {ref['sd']:.3f})" if ref else "")
                 + f"; published models: ~0.91 ({PUBLISHED_NOTE})")
    if run.get("same_target") is False:
        lines.append("note: the fixed-variance pass trained a target whose weights differ (GPU rounding)")
    if run.get("skipped"):
        lines.append("skipped (time budget): " + "; ".join(run["skipped"]))
    return lines
