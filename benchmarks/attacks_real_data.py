"""Attack strength on real data: every single-model attack, train vs test.

Runs three audits with the project's runner and prints AUC and TPR at low FPR per
attack (the figures the foundation issue asks for in its closing note):

* Adult (bundled), MLP 256-256, 40 epochs, 50/50 split of the 45,222-record pool;
* Adult, XGBoost (200 trees, depth 6);
* digits (scikit-learn, 8x8), small CNN, 30 epochs, 50/50 split.

Usage: python benchmarks/attacks_real_data.py [--seed 0] [--bootstrap 200] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import time

from mia_audit.config import AttackConfig, AuditConfig, DataConfig, MetricsConfig, ModelConfig
from mia_audit.run.pipeline import run_audit

CASES = {
    "adult-mlp": (DataConfig(name="adult"), ModelConfig(name="mlp", params={"hidden": [256, 256]}, training={"epochs": 40})),
    "adult-xgboost": (DataConfig(name="adult"), ModelConfig(name="xgboost")),
    "digits-cnn": (DataConfig(name="digits"), ModelConfig(name="cnn", training={"epochs": 30})),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--json", default=None, help="also write all results here")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    everything = {}
    print(f"{'case':<14} {'attack':<17} {'AUC':>6} {'95% CI':>15} {'TPR@0.1%':>9} {'TPR@1%':>7} {'TPR@10%':>8}  acc train/test   seconds")
    for case in args.cases:
        data, model = CASES[case]
        config = AuditConfig(data=data, model=model, attacks=AttackConfig(members=["train"]),
                             metrics=MetricsConfig(n_bootstrap=args.bootstrap), seed=args.seed, device="cpu")
        start = time.perf_counter()
        result = run_audit(config)
        seconds = time.perf_counter() - start
        everything[case] = result
        acc = result["models"][0]["accuracy"]
        for r in result["results"]:
            t = r["tpr_at_fpr"]
            ci = r["auc_ci"] or [float("nan")] * 2
            print(f"{case:<14} {r['attack']:<17} {r['auc']:6.3f} [{ci[0]:.3f}, {ci[1]:.3f}] "
                  f"{100 * t['0.001']:8.2f}% {100 * t['0.01']:6.2f}% {100 * t['0.1']:7.2f}%  "
                  f"{acc['train']:.3f}/{acc['test']:.3f}  {seconds:7.1f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(everything, fh, indent=1)


if __name__ == "__main__":
    main()
