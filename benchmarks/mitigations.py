"""Privacy gain and utility cost of each output mitigation, on real data.

For Adult (MLP) and digits (CNN), trains the original model once, then audits it
with every output mitigation and prints, per mitigation and attack (members =
train vs non-members = test): AUC and TPR@1 % with and without the mitigation,
the gain (drop), test accuracy and ECE. Not applicable attacks show "n/a".

Usage: python benchmarks/mitigations.py [--seed 0] [--cases adult-mlp digits-cnn]
"""

from __future__ import annotations

import argparse
import time

from mia_audit.config import AttackConfig, AuditConfig, DataConfig, MetricsConfig, ModelConfig
from mia_audit.run.pipeline import run_audit

MITIGATIONS = [
    {"name": "label-only"},
    {"name": "temperature", "T": "fit"},
    {"name": "temperature", "T": 10.0},
    {"name": "top-k", "k": 1},
    {"name": "rounding", "decimals": 1},
    {"name": "output-noise", "sigma": 0.1},
]
CASES = {
    "adult-mlp": (DataConfig(name="adult", train_size=10000, test_size=10000, validation_size=2000),
                  ModelConfig(name="mlp", params={"hidden": [256, 256]}, training={"epochs": 40})),
    "digits-cnn": (DataConfig(name="digits", train_size=0.4, test_size=0.4, validation_size=0.2),
                   ModelConfig(name="cnn", training={"epochs": 30})),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    for case in args.cases:
        data, model = CASES[case]
        config = AuditConfig(data=data, model=model, attacks=AttackConfig(members=["train"]),
                             metrics=MetricsConfig(n_bootstrap=0), mitigations=MITIGATIONS,
                             seed=args.seed, device="cpu")
        start = time.perf_counter()
        result = run_audit(config)
        print(f"\n== {case} ({time.perf_counter() - start:.0f} s); test accuracy "
              f"{result['models'][0]['accuracy']['test']:.3f}")
        base = {r["attack"]: r for r in result["results"] if r["mitigation"] == "none"}
        utility = {u["label"]: u for u in result["mitigations"]}
        print(f"{'mitigation':<22} {'attack':<17} {'AUC':>6} {'->':>2} {'AUC':>6} {'gain':>7} "
              f"{'TPR@1%':>7} {'->':>2} {'TPR@1%':>7}  {'test acc':>8} {'ECE':>6}")
        for r in result["results"]:
            if r["mitigation"] == "none":
                continue
            b, u = base[r["attack"]], utility[r["mitigation"]]
            ece = "-" if u["ece"] is None else f"{u['ece']:.3f}"
            if not r.get("applicable", True):
                print(f"{r['mitigation']:<22} {r['attack']:<17} {b['auc']:6.3f} -> {'n/a':>6} {'':>7} "
                      f"{100 * b['tpr_at_fpr']['0.01']:6.2f}% -> {'n/a':>7}  {u['accuracy']['test']:8.3f} {ece:>6}")
                continue
            print(f"{r['mitigation']:<22} {r['attack']:<17} {b['auc']:6.3f} -> {r['auc']:6.3f} "
                  f"{b['auc'] - r['auc']:+7.3f} {100 * b['tpr_at_fpr']['0.01']:6.2f}% -> "
                  f"{100 * r['tpr_at_fpr']['0.01']:6.2f}%  {u['accuracy']['test']:8.3f} {ece:>6}")
        print(f"(ECE without mitigation: {result['mitigations'][0]['ece_before']:.3f})")


if __name__ == "__main__":
    main()
