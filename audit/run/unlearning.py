"""The unlearning part of an audit: run each configured unlearner and measure it.

For every unlearner of ``config.unlearners`` (``retrain`` always runs first: it is the
reference every other method is compared with):

* the method's original: the audit's plainly trained model, or, for methods that need
  their own training (SISA, EUPG), the model their ``fit`` deploys, audited as
  ``"<name> original"``;
* ``unlearn(original, retain, forget, validation)`` with a seed derived from the audit's;
* a model entry: seconds, ``time_ratio`` (seconds / retrain's seconds), accuracy on
  train/test/retain/forget, ``forget_test_ratio`` (forget accuracy / test accuracy, seed
  002's measure: an effective unlearner is near the retrained model's), what the method
  did (``details``) and its options;
* every attack on forget (and retain, when configured) vs test, with and without each
  mitigation, and ``gap_to_retrain`` on every entry: the figure minus the retrained
  model's figure for the same attack, member set and mitigation.

A method that does not apply to the audit's model (a gradient method on XGBoost, a
convolution method on an MLP) is listed in ``result["unlearners"]`` with the reason,
never silently dropped.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

import numpy as np

from mia_audit.errors import InputError, NotApplicableError
from mia_audit.seeding import derive_seed

REFERENCE = "retrain"


def create_unlearners(specs: Sequence[dict[str, Any]]) -> list[Any]:
    """Unlearner objects for the config's ``[[unlearners]]`` tables, ``retrain`` first
    (added when absent). Unknown names and options fail here, before any training."""
    from mia_audit.unlearners import create_unlearner

    objects = [create_unlearner(s["name"], **{k: v for k, v in s.items() if k != "name"}) for s in specs]
    names = [u.name for u in objects]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"unlearners: {repeated[0]!r} is listed twice; list each method once")
    if objects and REFERENCE not in names:
        objects.insert(0, create_unlearner(REFERENCE))
    objects.sort(key=lambda u: u.name != REFERENCE)
    return objects


def run_unlearners(
    *,
    config: Any,
    dataset: Any,
    split: Any,
    model: Any,
    recipe: Any,
    trained: Any,
    unlearners: Sequence[Any],
    attack_names: Iterable[str],
    mitigations: Sequence[Any],
    validation_idx: Optional[np.ndarray],
    device: Any,
    trainer: Any = None,
    show_progress: Optional[bool] = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], dict[str, list]]:
    """Returns ``(models, results, utility, summary, objects)``: the first four go into the
    audit result; ``objects`` = {"targets": [(model name, model, member sets)], "pairs":
    [(model name, unlearner, original Trained, unlearned Trained)]} for the attacks that need
    the models themselves (:mod:`mia_audit.run.references`). ``trainer``: the user's training
    function, which trained the original; ``retrain`` then calls it on retain, the gradient
    methods work on its torch module with ``recipe`` (``[model] training``), SISA trains its
    shards with it (``fit_trained_by``), and a method that cannot (EUPG) is reported as not
    applicable, with its reason."""
    from mia_audit.unlearners import Records, Trained, fingerprints

    from mia_audit.adapters import as_adapter, model_sha256
    from mia_audit.run.mitigations import evaluate_mitigations
    from mia_audit.progress import phase, progress_enabled
    from mia_audit.run.attack_entries import accuracy_of, evaluate_attacks, membership_signals

    if split.forget.size == 0:
        raise InputError("unlearners need a forget set; [forget] selected no records")
    attack_names = list(attack_names)
    members = [m for m in config.attacks.members if m != "train"] or ["forget"]
    X, y = dataset.X, dataset.y
    train = Records(X[split.train], y[split.train])
    retain = Records(X[split.retain], y[split.retain])
    forget = Records(X[split.forget], y[split.forget])
    validation = None if validation_idx is None else Records(X[validation_idx], y[validation_idx])
    plain = Trained(model=trained.model, init=model, recipe=recipe, train_keys=np.sort(fingerprints(train)),
                    seconds=float(trained.seconds), device=str(trained.device), trainer=trainer)

    models: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    utility: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    retrain_seconds: Optional[float] = None
    objects: dict[str, list] = {"targets": [], "pairs": []}

    def audit_model(name: str, net: Any, model_members: list[str]) -> dict[str, Any]:
        with phase(f"attacks on {name}" + (" (and mitigations)" if mitigations else ""), enabled=show_progress):
            return _audit_model(name, net, model_members)

    def _audit_model(name: str, net: Any, model_members: list[str]) -> dict[str, Any]:
        adapter = as_adapter(net, n_classes=dataset.n_classes)
        signals = membership_signals(adapter, dataset, split)
        results.extend(evaluate_attacks(signals, model=name, attack_names=attack_names, config=config,
                                        show_progress=show_progress, members=model_members))
        if mitigations:
            entries, used = evaluate_mitigations(
                adapter, dataset, split, mitigations=mitigations, attack_names=attack_names, config=config,
                model_name=name, validation_indices=validation_idx, show_progress=show_progress,
                members=model_members)
            results.extend(entries)
            utility.extend(used)
        return accuracy_of(signals)

    # methods that read a table's column names (EUPG: its one-hot attributes) get the data set's
    # names as a new unlearner with the same options; the given ones and their options are unchanged
    feature_names = dataset.feature_names if dataset.kind == "tabular" else None
    for u in [u.with_feature_names(feature_names) for u in unlearners]:
        original = plain
        if u.needs_own_training and trainer is not None:  # the method's own original, from your function
            try:
                with phase(f"training the {u.name} original ({trainer.name})", enabled=show_progress):
                    original = u.fit_trained_by(trainer, train.X, train.y, seed=derive_seed(config.seed, "train", u.name),
                                                device=device)
            except NotApplicableError as exc:
                summary.append({"name": u.name, "applicable": False, "reason": str(exc), "options": u.options()})
                continue
        elif u.needs_own_training:
            try:
                u.check_framework(plain.framework)
            except NotApplicableError as exc:
                summary.append({"name": u.name, "applicable": False, "reason": str(exc), "options": u.options()})
                continue
            with phase(f"training the {u.name} original", enabled=show_progress):
                original = u.fit(model, train.X, train.y, recipe, seed=derive_seed(config.seed, "train", u.name),
                                 device=device, progress=progress_enabled(show_progress))
        if u.needs_own_training:
            accuracy = audit_model(f"{u.name} original", original.model, list(config.attacks.members))
            objects["targets"].append((f"{u.name} original", original.model, list(config.attacks.members)))
            models.append({"name": f"{u.name} original", "role": "original", "unlearner": u.name,
                           "architecture": trainer.name if trainer is not None else config.model.name,
                           "seconds": float(original.seconds),
                           "sha256": model_sha256(original.model), "accuracy": accuracy,
                           "outputs": as_adapter(original.model, n_classes=dataset.n_classes).output_kind,
                           "white_box": True})
        reason = u.applicable(original)
        if reason is not None:
            summary.append({"name": u.name, "applicable": False, "reason": reason, "options": u.options()})
            continue
        with phase(f"unlearning with {u.name}", enabled=show_progress):
            done = u.unlearn(original, retain, forget, validation=validation,
                             seed=derive_seed(config.seed, "unlearn", u.name))
        if u.name == REFERENCE:
            retrain_seconds = float(done.seconds)
        accuracy = audit_model(u.name, done.model.model, members)
        objects["targets"].append((u.name, done.model.model, members))
        objects["pairs"].append((u.name, u, original, done.model))
        ratio = _ratio(accuracy.get("forget"), accuracy.get("test"))
        time_ratio = _ratio(done.seconds, retrain_seconds)
        models.append({
            "name": u.name, "role": "retrained" if u.name == REFERENCE else "unlearned", "unlearner": u.name,
            "architecture": trainer.name if trainer is not None else config.model.name,
            "seconds": float(done.seconds), "time_ratio": time_ratio,
            "sha256": model_sha256(done.model.model), "accuracy": accuracy, "forget_test_ratio": ratio,
            "details": dict(done.details), "options": u.options(), "reference": u.reference,
            "outputs": as_adapter(done.model.model, n_classes=dataset.n_classes).output_kind, "white_box": True,
        })
        summary.append({"name": u.name, "applicable": True, "seconds": float(done.seconds),
                        "time_ratio": time_ratio, "forget_test_ratio": ratio, "options": u.options()})
    return models, results, utility, summary, objects


def add_retrain_gaps(results: list[dict[str, Any]]) -> None:
    """Add ``gap_to_retrain`` (figure minus the retrained model's) to every applicable entry
    of another model that has a retrained counterpart (same attack, members, mitigation)."""
    reference = {(e["attack"], e["members"], e["mitigation"]): e for e in results
                 if e["model"] == REFERENCE and e.get("applicable", True)}
    for e in results:
        ref = reference.get((e["attack"], e["members"], e["mitigation"]))
        if e["model"] == REFERENCE or ref is None or not e.get("applicable", True):
            continue
        e["gap_to_retrain"] = {
            "auc": float(e["auc"] - ref["auc"]),
            "advantage": float(e["advantage"] - ref["advantage"]),
            "tpr_at_fpr": {k: float(v - ref["tpr_at_fpr"][k]) for k, v in e["tpr_at_fpr"].items()
                           if k in ref["tpr_at_fpr"]},
        }


def _ratio(a: Any, b: Any) -> Optional[float]:
    if a is None or b is None or not b:
        return None
    return float(a) / float(b)
