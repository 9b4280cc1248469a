"""Seed 003's question, measured: does each output mitigation reduce the two-model attack?

Chen et al.'s setting: single deletions (one unlearned model per deleted record) on a
small, overfitted model, so that the attack works without mitigation. Two disjoint
halves of a data set: the attacker's shadow pool and the target pool. On each,
``shadow_pairs`` trains originals and unlearns single records with the method under test
(``retrain`` and ``finetune`` by default), giving (original, unlearned) posterior pairs
on deleted records (positives) and never-seen records (negatives). The two-model attack
(random forest on ``sorted_diff``) is fitted on the shadow pairs and scored on the target
pairs, and the classical attack on the original alone is its baseline. Every mitigation
is applied to the released outputs of both the target and the shadow pairs (the attacker
trains on what it would see), with the same fixed parameters.

Usage: python benchmarks/two_model_mitigations.py [--data digits|adult] [--seed 0]
       [--unlearners retrain finetune] [--originals 4] [--deletions 40]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from mia_audit.attacks.two_model import TwoModelAttack, privacy_degradation
from mia_audit.adapters import CallableAdapter
from mia_audit.data import load_dataset
from mia_audit.metrics import evaluate
from mia_audit.mitigations import create_mitigation
from mia_audit.run.references import released_probs
from mia_audit.run.shadow_unlearning import ModelRecipe, shadow_pairs
from mia_audit.training import recipe_for

MITIGATIONS = [None, {"name": "label-only"}, {"name": "temperature", "T": 2.0}, {"name": "temperature", "T": 10.0},
               {"name": "top-k", "k": 1}, {"name": "rounding", "decimals": 1},
               {"name": "output-noise", "sigma": 0.1}]


def wrapper(spec, n_classes):
    """A fitted output wrapper for ``spec`` (its _transform is what released_probs applies)."""
    if spec is None:
        return None
    dummy = CallableAdapter(lambda X: np.full((len(X), n_classes), 1.0 / n_classes), n_classes=n_classes)
    return create_mitigation(spec["name"], **{k: v for k, v in spec.items() if k != "name"}).apply(dummy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits", choices=["digits", "adult"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--unlearners", nargs="*", default=["retrain", "finetune"])
    parser.add_argument("--originals", type=int, default=4)
    parser.add_argument("--deletions", type=int, default=40)
    args = parser.parse_args()

    d = load_dataset(args.data)
    g = np.random.default_rng(args.seed)
    rows = g.permutation(d.n)[: 1600 if args.data == "adult" else d.n]
    half = rows.size // 2
    pools = {"shadow": np.sort(rows[:half]), "target": np.sort(rows[half:])}
    if args.data == "digits":
        model = ModelRecipe("mlp", recipe_for("mlp", "tabular").replace(epochs=60), {"hidden": [128]})
        X = d.X.reshape(d.n, -1)
    else:
        model = ModelRecipe("mlp", recipe_for("mlp", "tabular").replace(epochs=60, batch_size=64),
                            {"hidden": [256, 256]})
        X = d.X
    print(f"data {args.data}: shadow pool {pools['shadow'].size}, target pool {pools['target'].size}; "
          f"{args.originals} originals x {args.deletions} single deletions per side")
    print("| unlearner | mitigation | two-model AUC | classical AUC (original only) | DegCount | DegRate | "
          "TPR@10% |")
    print("|---|---|---|---|---|---|---|")
    for name in args.unlearners:
        start = time.perf_counter()
        pairs = {side: shadow_pairs(X[idx], d.y[idx], model=model, unlearner=name, n_originals=args.originals,
                                    deletions_per_original=args.deletions, group_size=1, n_classes=d.n_classes,
                                    seed=args.seed + (0 if side == "shadow" else 1000), device="cpu")
                 for side, idx in pools.items()}
        for spec in MITIGATIONS:
            w = wrapper(spec, d.n_classes)
            released = {side: dataclasses.replace(p, probs_original=released_probs(w, p.probs_original),
                                                  probs_unlearned=released_probs(w, p.probs_unlearned))
                        for side, p in pairs.items()}
            attack = TwoModelAttack(seed=args.seed)
            attack.fit_pairs(released["shadow"].probs_original, released["shadow"].probs_unlearned,
                             released["shadow"].is_deleted)
            t = released["target"]
            scores = attack.score_pair(t.probs_original, t.probs_unlearned)
            baseline = attack.score_original(t.probs_original)
            comparison = privacy_degradation(scores, baseline, t.is_deleted)
            metrics = evaluate(scores[t.is_deleted], scores[~t.is_deleted], fprs=(0.1,), n_bootstrap=0, seed=0)
            label = "none" if spec is None else create_mitigation(
                spec["name"], **{k: v for k, v in spec.items() if k != "name"}).label
            print(f"| {name} | {label} | {comparison['auc_two_model']:.3f} | {comparison['auc_single_model']:.3f} | "
                  f"{comparison['deg_count']:.3f} | {comparison['deg_rate']:+.3f} | "
                  f"{metrics.tpr_at_fpr[0.1]:.3f} |", flush=True)
        print(f"<!-- {name}: {time.perf_counter() - start:.1f} s -->")


if __name__ == "__main__":
    main()
