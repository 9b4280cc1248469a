"""Issue 12's table: loss, LiRA offline (K = 4, 8), RMIA offline (K = 2, 4, 8 reference models, i.e.
1, 2 and 4 models that did not train on a given record) and QMIA on your own model and data.

Three targets: the built-in Adult MLP, the built-in Adult XGBoost, and a user's CSV (Cardio from
``../shared/data``, through ``[data] path``) with a scikit-learn forest trained by a user
function. Each attack runs as its own audit with an empty reference cache, so its wall time
includes training the original (the loss-only row) and its own reference models. Run:

    python benchmarks/own_model.py [--quick] [--out table.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from mia_audit import AuditConfig, run_audit
from mia_audit.config import AttackConfig, DataConfig, MetricsConfig, ModelConfig, ReferenceConfig

CARDIO = Path(__file__).resolve().parents[2] / "shared" / "data" / "cardio_train.csv.gz"


def forest_fit(X, y, *, seed, device):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=100, min_samples_leaf=1, random_state=seed, n_jobs=2).fit(X, y)


def targets(quick: bool):
    n = 2000 if quick else 10000
    yield "adult-mlp", DataConfig(name="adult", train_size=n, test_size=n), ModelConfig(name="mlp"), None
    yield "adult-xgboost", DataConfig(name="adult", train_size=n, test_size=n), ModelConfig(name="xgboost"), None
    if CARDIO.is_file():
        data = DataConfig(path=str(CARDIO), label="cardio", id="id", train_size=n, test_size=n,
                          categorical=["gender", "cholesterol", "gluc", "smoke", "alco", "active"],
                          numeric=["age", "height", "weight", "ap_hi", "ap_lo"])
        yield "cardio-csv-forest", data, ModelConfig(), forest_fit


def runs():
    """(label, attack names, K, attack options). K reference models give each record K/2 OUT models.
    LiRA needs 2 OUT models per record for a variance (K >= 4); RMIA offline works with 1 (K = 2)."""
    yield "loss", ["loss"], 2, {}
    for k in (2, 4, 8):
        if k >= 4:
            yield f"lira-offline K={k}", ["lira-offline"], k, {}
        yield f"rmia-offline K={k}", ["rmia-offline"], k, {}
    yield "qmia", ["qmia"], 2, {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = []
    for target, data, model, fit in targets(args.quick):
        for label, names, k, options in runs():
            os.environ["MIA_AUDIT_CACHE"] = tempfile.mkdtemp(prefix="mia-bench-")  # no row reuses another's models
            config = AuditConfig(data=data, model=model,
                                 attacks=AttackConfig(names=names, members=["train"], options=options),
                                 metrics=MetricsConfig(n_bootstrap=0),
                                 references=ReferenceConfig(n_models=k, population=2000), seed=0, device="cpu")
            start = time.perf_counter()
            result = run_audit(config, train_fn=fit)
            seconds = time.perf_counter() - start
            entry = result["results"][0]
            row = {"target": target, "attack": label, "seconds": round(seconds, 1),
                   "applicable": entry["applicable"], "auc": entry.get("auc"),
                   "tpr@0.1%": entry.get("tpr_at_fpr", {}).get("0.001"),
                   "tpr@1%": entry.get("tpr_at_fpr", {}).get("0.01"),
                   "n_nonmembers": entry.get("n_nonmembers"), "reason": entry.get("reason")}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
