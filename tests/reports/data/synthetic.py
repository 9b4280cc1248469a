"""Result dicts for the report tests: the real demo result (``demo_result.json``, made by
``mia-audit demo --quick``) and synthetic results built with ``mia_audit.metrics.evaluate``."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np

from mia_audit.metrics import evaluate, score_histogram
from mia_audit.run.attack_entries import with_verdict

DEMO_PATH = Path(__file__).with_name("demo_result.json")


def demo_result() -> dict[str, Any]:
    """The demo result as written by the runner (with ``histogram`` per entry), with its verdict
    under the default policy (the stored file predates verdicts)."""
    return with_verdict(json.loads(DEMO_PATH.read_text(encoding="utf-8")))


def entry(model: str, attack: str, members: str, shift: float, *, n1: int = 200, n0: int = 400, seed: int = 0,
          mitigation: str = "none", histogram: bool = True) -> dict[str, Any]:
    """One result entry: member scores ~ N(shift, 1), non-member scores ~ N(0, 1)."""
    gen = np.random.default_rng(seed)
    mem, non = gen.normal(shift, 1, n1), gen.normal(0, 1, n0)
    m = evaluate(mem, non, n_bootstrap=20, seed=seed, roc_points=40)
    out = {"model": model, "mitigation": mitigation, "attack": attack, "members": members,
           "nonmembers": "test", "applicable": True, **m.to_dict()}
    if histogram:
        out["histogram"] = score_histogram(mem, non)
    return out


def not_applicable(model: str, attack: str, members: str, *, mitigation: str,
                   with_half: bool = False) -> dict[str, Any]:
    """An entry for an attack that does not apply (e.g. a loss attack on label-only outputs), as the
    runner writes it; ``with_half`` adds the figures a careless writer might fill in (AUC 0.5),
    which a report must still show as n/a."""
    out = {"model": model, "mitigation": mitigation, "attack": attack, "members": members, "nonmembers": "test",
           "applicable": False, "reason": f"signal {attack!r} needs probabilities; these outputs are label-only"}
    if with_half:
        out.update({"auc": 0.5, "auc_ci": None, "tpr_at_fpr": {"0.001": 0.001}, "tpr_at_fpr_ci": None,
                    "advantage": 0.0, "epsilon_lower_bound": 0.0, "n_members": 200, "n_nonmembers": 400,
                    "warnings": []})
    return out


def model(name: str, role: str, *, unlearner: str | None = None, seconds: float | None = 10.0,
          acc: tuple[float, float, float, float] = (0.95, 0.85, 0.95, 0.94)) -> dict[str, Any]:
    train, test, retain, forget = acc
    return {"name": name, "role": role, "unlearner": unlearner, "architecture": "mlp", "seconds": seconds,
            "sha256": f"{abs(hash(name)) % 10**12:064d}",
            "accuracy": {"train": train, "test": test, "retain": retain, "forget": forget}}


def base_result(models: list[dict[str, Any]], results: list[dict[str, Any]], *, policy: Any = None,
                **extra: Any) -> dict[str, Any]:
    """A result with its verdict under ``policy`` (default: the default policy)."""
    demo = demo_result()
    return with_verdict({"schema_version": 1, "tool": demo["tool"], "created": "2026-01-02T03:04:05+00:00",
            "config": copy.deepcopy(demo["config"]), "environment": demo["environment"],
            "data": {**demo["data"], "n_train": 2000, "n_test": 2000, "n_forget": 100, "n_retain": 1900},
            "models": models, "results": results, **extra}, policy)


ATTACKS = ["loss", "entropy", "gap"]


def unlearning_result(*, histograms: bool = True) -> dict[str, Any]:
    """Original, two unlearners and a retrained model, train and forget member sets."""
    models = [model("original", "original", seconds=20.0),
              model("finetune", "unlearned", unlearner="finetune", seconds=3.0, acc=(0.93, 0.84, 0.93, 0.88)),
              model("scrub", "unlearned", unlearner="scrub", seconds=5.0, acc=(0.92, 0.84, 0.93, 0.86)),
              model("retrained", "retrained", unlearner="retrain", seconds=18.0, acc=(0.94, 0.85, 0.94, 0.85))]
    shifts = {"original": 0.4, "finetune": 0.25, "scrub": 0.1, "retrained": 0.0}
    results = []
    for i, (name, shift) in enumerate(shifts.items()):
        for j, attack in enumerate(ATTACKS):
            results.append(entry(name, attack, "train", shift, seed=10 * i + j, histogram=histograms))
            results.append(entry(name, attack, "forget", shift, n1=100, seed=10 * i + j + 5, histogram=histograms))
    return base_result(models, results)


def mitigation_result(*, with_utility: bool = True) -> dict[str, Any]:
    """One model, attacks with and without label-only outputs; the loss attack is n/a under it."""
    results = []
    for j, attack in enumerate(ATTACKS):
        results.append(entry("original", attack, "train", 0.5, seed=j))
    results.append(not_applicable("original", "loss", "train", mitigation="label-only"))
    results.append(not_applicable("original", "entropy", "train", mitigation="label-only", with_half=True))
    results.append(entry("original", "gap", "train", 0.2, seed=7, mitigation="label-only"))
    extra = {}
    if with_utility:
        acc = {"train": 0.95, "test": 0.85, "retain": 0.95, "forget": 0.94}
        extra["mitigations"] = [{"name": "label-only", "label": "label-only", "model": "original", "params": {},
                                 "accuracy": acc, "ece": None, "ece_before": 0.052},
                                {"name": "temperature", "label": "temperature(T=2.5)", "model": "original",
                                 "params": {"T": 2.5}, "accuracy": {**acc, "test": 0.849}, "ece": 0.031,
                                 "ece_before": 0.052}]
    return base_result([model("original", "original")], results, **extra)


def many_attacks_result(n_attacks: int = 12) -> dict[str, Any]:
    """A very long model name and ``n_attacks`` attacks (layout stress test)."""
    name = "resnet18-cifar10-" + "x" * 60 + "-unlearned-with-an-exceptionally-long-descriptive-name-v2"
    attacks = ["loss", "confidence", "entropy", "modified-entropy", "loss-lr", "gap", "lira-online",
               "lira-offline", "rmia", "two-model", "u-lira", "my-custom-attack-with-a-long-name"][:n_attacks]
    results = [entry(name, a, members, 0.05 * k, seed=k + (50 if members == "forget" else 0))
               for members in ("train", "forget") for k, a in enumerate(attacks)]
    results += [entry(name, a, "train", 0.02 * k, seed=100 + k, mitigation="temperature-scaling-with-a-long-name")
                for k, a in enumerate(attacks)]
    return base_result([model(name, "original")], results)
