"""Every registered unlearner against retraining, on real data.

Per case, one audit (the runner, as `mia-audit run` does it) trains the original, runs
every unlearner that applies to the model on a random forget set, and this script prints
a table: method, seconds, share of retrain's time, accuracy on retain / forget / test,
the forget/test accuracy ratio, and the loss-lr attack's AUC on forget vs test (with its
gap to the retrained model's). Methods that need their own training (SISA, EUPG) also
show their training time as a share of plain training.

Cases:
  adult-mlp     Adult, 10k train / 10k test, MLP 256-256, 40 epochs, 5 % random forget (CPU)
  adult-xgb     Adult, same split, XGBoost 200 trees (CPU)
  digits-cnn    digits, 50 % train / 40 % test, small CNN, 30 epochs, 10 % random forget (CPU)
  cifar10-resnet18  CIFAR-10 (JPEG file in ../shared/data), ResNet-18, 10 % random forget,
                as in seed 002 (a GPU machine; far too slow on 2 CPU cores)

Usage: python benchmarks/unlearner_table.py [--cases adult-mlp adult-xgb digits-cnn] [--seed 0]
       [--data-dir ../shared/data] [--device auto] [--json out.json]

(The unlearners issue asked for ``benchmarks/unlearners.py``; a script of that name
would hide the ``unlearners`` package from every script in this folder.)
"""

from __future__ import annotations

import argparse
import json
import time

from mia_audit.config import AttackConfig, AuditConfig, DataConfig, ForgetConfig, MetricsConfig, ModelConfig
from mia_audit.run.pipeline import run_audit


def cases(data_dir: str | None) -> dict[str, tuple]:
    return {
        "adult-mlp": (DataConfig(name="adult", train_size=10000, test_size=10000, validation_size=1000),
                      ModelConfig(name="mlp", params={"hidden": [256, 256]}, training={"epochs": 40}), 0.05),
        "adult-xgb": (DataConfig(name="adult", train_size=10000, test_size=10000, validation_size=1000),
                      ModelConfig(name="xgboost", params={"n_estimators": 200}), 0.05),
        "digits-cnn": (DataConfig(name="digits", train_size=0.5, test_size=0.4, validation_size=0.1),
                       ModelConfig(name="cnn", params={"channels": [16, 32], "hidden": 64},
                                   training={"epochs": 30}), 0.1),
        "cifar10-resnet18": (DataConfig(name="cifar10", data_dir=data_dir, train_size=50000, test_size=9000,
                                        validation_size=1000),
                             ModelConfig(name="resnet18", training={"epochs": 30}), 0.1),
    }


def run_case(name: str, spec: tuple, *, unlearners: list[str], seed: int, device: str) -> dict:
    data, model, fraction = spec
    config = AuditConfig(data=data, model=model, forget=ForgetConfig(kind="random", fraction=fraction),
                         attacks=AttackConfig(names=["loss-lr"], members=["train", "forget"]),
                         metrics=MetricsConfig(n_bootstrap=0), unlearners=[{"name": u} for u in unlearners],
                         seed=seed, device=device)
    start = time.perf_counter()
    result = run_audit(config, show_progress=False)
    result["benchmark_seconds"] = time.perf_counter() - start
    return result


def table(case: str, result: dict) -> str:
    models = {m["name"]: m for m in result["models"]}
    auc = {e["model"]: e for e in result["results"] if e["members"] == "forget" and e["mitigation"] == "none"}
    plain = models["original"]["seconds"]
    lines = [f"## {case} (device {result['environment'].get('device')}, n_forget {result['data']['n_forget']}, "
             f"original trained in {plain:.1f} s)", "",
             "| method | seconds | share of retrain | acc retain | acc forget | acc test | forget/test | "
             "loss-lr AUC forget vs test (gap to retrain) |", "|---|---|---|---|---|---|---|---|"]
    for name, m in models.items():
        if m["role"] == "original" and m["unlearner"] is None:
            continue
        acc = m["accuracy"]
        e = auc.get(name)
        figure = "-" if e is None or not e.get("applicable", True) else f"{e['auc']:.3f}"
        if e is not None and "gap_to_retrain" in e:
            figure += f" ({e['gap_to_retrain']['auc']:+.3f})"
        share = m.get("time_ratio")
        if m["role"] == "original":  # a method's own training (SISA, EUPG) against plain training
            label, share_text = f"{name} (training)", f"{100 * m['seconds'] / plain:.1f} % of plain training"
        else:
            label, share_text = name, "-" if share is None else f"{100 * share:.1f} %"
        ratio = m.get("forget_test_ratio")
        lines.append(f"| {label} | {m['seconds']:.2f} | {share_text} | {acc['retain']:.3f} | {acc['forget']:.3f} | "
                     f"{acc['test']:.3f} | {'-' if ratio is None else f'{ratio:.3f}'} | {figure} |")
    skipped = [u for u in result.get("unlearners", []) if not u["applicable"]]
    if skipped:
        lines += ["", "Not applicable: " + "; ".join(f"{u['name']} ({u['reason']})" for u in skipped)]
    return "\n".join(lines) + "\n"


def main() -> None:
    from mia_audit.unlearners import UNLEARNERS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=["adult-mlp", "adult-xgb", "digits-cnn"])
    parser.add_argument("--unlearners", nargs="*", default=UNLEARNERS.names())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None, help="also write the raw results to this file")
    args = parser.parse_args()
    specs = cases(args.data_dir)
    raw = {}
    for case in args.cases:
        result = run_case(case, specs[case], unlearners=args.unlearners, seed=args.seed, device=args.device)
        raw[case] = result
        print(table(case, result), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(raw, f, indent=1, default=str)


if __name__ == "__main__":
    main()
