"""The mitigation part of an audit: every output mitigation applied to one model, attacked like
the model itself, with its utility (accuracy, calibration)."""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

import numpy as np

from mia_audit.adapters import as_adapter
from mia_audit.errors import InputError, bad_value
from mia_audit.mitigations import Mitigation


#: how the pipeline runs each kind of mitigation a registered mitigation declares (``Mitigation.kind``):
#: "output" wraps every audited model's outputs (:func:`evaluate_mitigations`); "training" trains a
#: model of its own with the audit's recipe (``run_audit``), every attack then running on it
MITIGATION_KINDS = {"output": "every attack on each audited model's mitigated outputs",
                    "training": "a model of its own, trained with the mitigation, audited like the original"}


def by_kind(mitigations: Sequence[Mitigation]) -> dict[str, list[Mitigation]]:
    """``mitigations`` grouped by kind (order kept); a kind the pipeline cannot run is refused."""
    out: dict[str, list[Mitigation]] = {kind: [] for kind in MITIGATION_KINDS}
    for m in mitigations:
        if m.kind not in out:  # a registered mitigation of the user's with a kind the pipeline cannot run
            raise InputError(f"mitigation {m.name!r} has kind {m.kind!r}; the pipeline runs "
                             f"{', '.join(MITIGATION_KINDS)}")
        out[m.kind].append(m)
    return out


def evaluate_mitigations(
    adapter: Any,
    dataset: Any,
    split: Any,
    *,
    mitigations: Sequence[Mitigation],
    attack_names: Iterable[str],
    config: Any,
    model_name: str = "original",
    validation_indices: Any = None,
    show_progress: Optional[bool] = None,
    members: Optional[Sequence[str]] = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Attack results and utility of every mitigation applied to one model.

    adapter             the (unmitigated) model or its adapter; never modified
    dataset, split      the audit's data set and split (members: config.attacks.members;
                        non-members: split.test)
    mitigations         Mitigation objects (``create_mitigation``); their labels must differ
    attack_names        attacks to run (names in ``attacks.ATTACKS``)
    config              the :class:`~mia_audit.config.AuditConfig` (member sets, metrics, seed)
    validation_indices  pool indices of records for mitigations that fit something
                        (temperature with T = "fit"); they must lie outside train and test
    members             the member sets to attack (default: config.attacks.members)

    Returns ``(entries, utility)``. ``entries`` are result entries as
    :func:`mia_audit.run.attack_entries.evaluate_attacks` makes them, with ``"mitigation"`` = the
    mitigation's label and ``"applicable": True``; an attack that needs signals the
    mitigated outputs do not give (a loss from labels only) gets, per member set, an entry
    ``{"model", "mitigation", "attack", "members", "nonmembers", "applicable": False,
    "reason"}`` with no figures. ``utility`` holds one dict per mitigation:
    ``{"name", "label", "model", "params", "accuracy": {"train", "test", "forget",
    "retain"}, "ece", "ece_before"}``, ECE on the test set (None for label-only outputs).
    """
    from mia_audit.attacks import ATTACKS

    from mia_audit.calibration import expected_calibration_error
    from mia_audit.config import AuditConfig
    from mia_audit.data.dataset import check_indices
    from mia_audit.run.attack_entries import accuracy_of, evaluate_attacks, membership_signals

    if not isinstance(config, AuditConfig):
        raise InputError(f"config must be a mia_audit.config.AuditConfig; got {type(config).__name__}")
    if not isinstance(mitigations, (list, tuple)):
        raise bad_value("mitigations", "a list of Mitigation objects (create_mitigation)", type(mitigations).__name__)
    for m in mitigations:
        if not isinstance(m, Mitigation):
            raise bad_value("mitigations", "a list of Mitigation objects (create_mitigation)", m)
    labels = [m.label for m in mitigations]
    repeated = sorted({x for x in labels if labels.count(x) > 1})
    if repeated:
        raise InputError(f"mitigations must differ in name or parameters; {repeated[0]!r} is given twice")
    if isinstance(attack_names, str):
        raise bad_value("attack_names", "a list of attack names", attack_names)
    attack_names = list(attack_names)
    for name in attack_names:
        ATTACKS.get(name)
    adapter = as_adapter(adapter, n_classes=dataset.n_classes)

    validation = None
    if validation_indices is not None:
        idx = check_indices(validation_indices, len(dataset), "validation_indices")
        for part in ("train", "test"):
            both = np.intersect1d(idx, getattr(split, part))
            if both.size:
                raise InputError(
                    f"validation_indices must lie outside the audit's {part} set; {both.size} of them are in it "
                    f"(first: {int(both[0])}); use records of neither set, e.g. split.unused"
                )
        if idx.size:
            validation = (dataset.X[idx], dataset.y[idx])
    for m in mitigations:
        if m.needs_validation and validation is None:
            raise InputError(f"mitigation {m.label!r} fits on validation data; give validation_indices")

    X_test, y_test = dataset.X[split.test], dataset.y[split.test]
    before = adapter.predict(X_test)
    ece_before = expected_calibration_error(before, y_test) if before.has_posteriors and len(before) else None

    entries: list[dict[str, Any]] = []
    utility: list[dict[str, Any]] = []
    for mitigation in mitigations:
        wrapped = mitigation.apply(adapter, validation=validation)
        signals = membership_signals(wrapped, dataset, split)
        entries += evaluate_attacks(signals, model=model_name, attack_names=attack_names, config=config,
                                    mitigation=mitigation.label, show_progress=show_progress, members=members)
        test_outputs = wrapped.predict(X_test) if wrapped.output_kind != "labels" else None
        utility.append({
            "name": mitigation.name,
            "label": mitigation.label,
            "model": model_name,
            "params": mitigation.applied_params(wrapped),
            "outputs": wrapped.output_kind,
            "accuracy": accuracy_of(signals),
            "ece": (expected_calibration_error(test_outputs, y_test)
                    if test_outputs is not None and len(test_outputs) else None),
            "ece_before": ece_before,
        })
    return entries, utility


__all__ = ["evaluate_mitigations"]
