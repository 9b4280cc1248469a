"""Black-box audits of deployed models that mia-audit did not train.

``run_deployed_audit(target, ...)`` audits a saved model file or an HTTP endpoint on two
record files the auditor supplies: ``members`` (records the model was trained on) and
``nonmembers`` (records it never saw, from the same source and preprocessing). It returns
a schema-v1 result with one model, ``"deployed"``; members appear as the ``train`` set and
non-members as the ``test`` set (:func:`mia_audit.data.supplied.supplied_pool`), so every
renderer and gate reads it as usual.

The records go through the same steps as a model the toolkit trains
(:func:`mia_audit.run.pipeline.audit_released_model`): every signal attack, every output
mitigation; attacks dispatched by access kind (:mod:`mia_audit.run.dispatch`): a ``queries``
attack (boundary) runs on the model itself; ``references``, ``pairs`` and
``unlearned-references`` attacks need the target's training code, so each is reported as not
run, with its reason.

``target`` keys::

    model = "model.pt"          # a model file (see mia_audit.model_files), or
    endpoint = "http://..."     # an HTTP endpoint (see mia_audit.http_adapter); exactly one
    members = "members.npz"     # .npz (X, y) or .csv (see mia_audit.record_files)
    nonmembers = "nonmembers.npz"
    validation = "val.npz"      # optional: records in neither set, for temperature T = "fit"
    label = "label"             # CSV record files: the label column (default "label")
    n_classes = 2
    # model files: kind, architecture, input_shape, params, device,
    #              output (ONNX: the output to read; default its probabilities or logits)
    # endpoints:   returns, batch_size, timeout, retries, backoff, rate_limit, headers

Relative paths are resolved against ``base_dir`` (default: the working directory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional


from mia_audit.checks import shape
from mia_audit.errors import InputError, bad_value

FILE_KEYS = ("kind", "architecture", "build", "input_shape", "params", "device", "output")
ENDPOINT_KEYS = ("returns", "batch_size", "timeout", "retries", "backoff", "rate_limit", "headers")
COMMON_KEYS = ("model", "endpoint", "members", "nonmembers", "validation", "population", "n_classes", "label",
               "train", "version", "code_dir")
TARGET_KEYS = COMMON_KEYS + FILE_KEYS + ENDPOINT_KEYS
SOURCE = "members / nonmembers record files supplied by the auditor"
def _resolve(base: Path, value: Any, key: str) -> Path:
    if not isinstance(value, str) or not value:
        raise bad_value(f"target.{key}", "a file path (text)", value)
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def check_target(target: Any) -> dict[str, Any]:
    """A copy of ``target`` after checking its keys; an InputError naming the key otherwise."""
    if not isinstance(target, dict):
        raise bad_value("target", "a table with model or endpoint, members and nonmembers", type(target).__name__)
    unknown = sorted(set(target) - set(TARGET_KEYS))
    if unknown:
        raise InputError(f"target: unknown key {unknown[0]!r}; allowed keys are {', '.join(sorted(TARGET_KEYS))}")
    if ("model" in target) == ("endpoint" in target):
        raise InputError("target must name exactly one of model (a model file) or endpoint (an HTTP address)")
    for key in ("members", "nonmembers"):
        if key not in target:
            raise InputError(f"target.{key} is required: a .npz or .csv file of records")
    wrong = [k for k in (ENDPOINT_KEYS if "model" in target else FILE_KEYS) if k in target]
    if wrong:
        where = "a model file" if "model" in target else "an endpoint"
        raise InputError(f"target.{wrong[0]} does not apply to {where}")
    if "endpoint" in target and "n_classes" not in target:
        raise InputError("target.n_classes is required for an endpoint")
    if "input_shape" in target:
        shape("target.input_shape", target["input_shape"])
    return dict(target)


def load_target(target: dict[str, Any], *, base_dir: Optional[str | Path] = None):
    """``(adapter, model_sha256_or_None, device_text)`` for a checked target."""
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    if "endpoint" in target:
        from mia_audit.http_adapter import HttpEndpointAdapter

        options = {k: target[k] for k in ENDPOINT_KEYS if k in target}
        adapter = HttpEndpointAdapter(target["endpoint"], n_classes=target["n_classes"], **options)
        return adapter, None, "remote endpoint"
    from mia_audit.model_files import file_sha256, load_model_file

    path = _resolve(base, target["model"], "model")
    options = {k: target[k] for k in FILE_KEYS + ("n_classes",) if k in target}
    # where build's module is searched first: target.code_dir (a config file's folder), else base
    adapter = load_model_file(path, **options, base_dir=target.get("code_dir", base))
    device = "cpu"
    module = getattr(adapter, "module", None)
    if module is not None:
        from mia_audit.device import model_device

        device = str(model_device(module))
    return adapter, file_sha256(path), device


def _recorded_target(target: dict[str, Any]) -> dict[str, Any]:
    """The target as recorded in a result: header values (tokens) are never written out."""
    out = dict(target)
    if isinstance(out.get("headers"), dict):
        out["headers"] = {k: "<redacted>" for k in out["headers"]}
    return out


def run_deployed_audit(
    target: dict[str, Any],
    *,
    attacks: Optional[Iterable[str]] = None,
    attack_options: Optional[dict[str, dict[str, Any]]] = None,
    metrics: Any = None,
    seed: int = 0,
    mitigations: Optional[list[dict[str, Any]]] = None,
    base_dir: Optional[str | Path] = None,
    show_progress: Optional[bool] = None,
    policy: Any = None,
    references: Any = None,
    train_fn: Any = None,
) -> dict[str, Any]:
    """Audit the deployed model ``target`` describes; returns a result (schema v1).

    attacks         attack names (default: every registered attack)
    attack_options  {attack name: {option: value}}
    metrics         an :class:`mia_audit.config.MetricsConfig` or a dict of its fields
                    (fprs, n_bootstrap, confidence); default MetricsConfig()
    seed            the one seed (attacks, bootstrap)
    mitigations     [{"name": ..., params...}, ...] as in the TOML [[mitigations]]
    base_dir        folder that relative paths in ``target`` are relative to
    policy          the verdict's policy (a mia_audit.verdict.Policy or a [policy] dict; default Policy())
    references      a :class:`mia_audit.config.ReferenceConfig` or a dict of its fields: how many reference
                    models (n_models), how many population records RMIA and QMIA use (population), ...
    train_fn        your training function ``fit(X, y, *, seed, device) -> model`` (or ``target.train =
                    "module:function"``): with ``target.population`` records it trains the reference models
                    that LiRA and RMIA need, on random halves of members, non-members and population
    """
    from mia_audit.attacks import ATTACKS, create_attack, signal_attack_names

    from mia_audit.config import AttackConfig, AuditConfig, MetricsConfig, ReferenceConfig
    from mia_audit.data.supplied import supplied_pool
    from mia_audit.environment import environment
    from mia_audit.record_files import load_records
    from mia_audit.result import build_result, data_section, model_record
    from mia_audit.run.attack_entries import accuracy_of, policy_evidence
    from mia_audit.run.dispatch import by_scope, run_one_model_attacks
    from mia_audit.run.pipeline import audit_released_model
    from mia_audit.verdict import Policy

    target = check_target(target)
    if not isinstance(policy, Policy):
        policy = Policy.from_dict(policy)
    if metrics is None:
        metrics = MetricsConfig()
    elif isinstance(metrics, dict):
        allowed = {"fprs", "n_bootstrap", "confidence"}
        unknown = sorted(set(metrics) - allowed)
        if unknown:
            raise InputError(f"metrics: unknown key {unknown[0]!r}; allowed keys are {', '.join(sorted(allowed))}")
        metrics = MetricsConfig(**metrics)
    elif not isinstance(metrics, MetricsConfig):
        raise bad_value("metrics", "a mia_audit.config.MetricsConfig or a dict of its fields", metrics)
    if isinstance(attacks, str):
        raise bad_value("attacks", "a list of attack names", attacks)
    attack_names = list(attacks) if attacks is not None else signal_attack_names()
    if not attack_names:
        raise InputError("attacks must name at least one attack; got an empty list")
    if references is None:
        references = ReferenceConfig()
    elif isinstance(references, dict):
        references = ReferenceConfig(**references)
    elif not isinstance(references, ReferenceConfig):
        raise bad_value("references", "a mia_audit.config.ReferenceConfig or a dict of its fields", references)
    config = AuditConfig(
        attacks=AttackConfig(names=attack_names, members=["train"], options=dict(attack_options or {})),
        metrics=metrics, seed=seed, mitigations=list(mitigations or []), device="cpu", references=references,
    )
    for name in config.attacks.options:
        ATTACKS.get(name)
    for name in attack_names:  # unknown names and options fail before any model is queried
        create_attack(name, seed=config.seed, **config.attacks.options.get(name, {}))
    from mia_audit.mitigations import create_mitigation

    mitigation_objs = [create_mitigation(m["name"], **{k: v for k, v in m.items() if k != "name"})
                       for m in config.mitigations]

    from mia_audit.run.mitigations import by_kind

    trained_so = by_kind(mitigation_objs)["training"]
    if trained_so:
        raise InputError(f"mitigations: {trained_so[0].name} changes how a model is trained; a deployed model is "
                         "trained already (audit it with mia-audit run, which trains the model)")
    for m in mitigation_objs:
        if m.needs_validation and "validation" not in target:
            raise InputError(f"mitigation {m.label!r} fits on validation data; give target.validation, a record "
                             "file of records in neither members nor nonmembers")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    label = target.get("label", "label")
    if not isinstance(label, str) or not label:
        raise bad_value("target.label", "the name of the label column (text)", label)
    X_in, y_in = load_records(_resolve(base, target["members"], "members"), label=label)
    X_out, y_out = load_records(_resolve(base, target["nonmembers"], "nonmembers"), label=label)
    validation = population = trainer = None
    if "validation" in target:
        validation = load_records(_resolve(base, target["validation"], "validation"), label=label)
    if "population" in target:
        population = load_records(_resolve(base, target["population"], "population"), label=label)
    from mia_audit.user_code import training_function

    trainer = training_function(train_fn, target.get("train"), param="target.train",
                                base_dir=target.get("code_dir", base), version=target.get("version"))
    shapes = {X_in.shape[1:], X_out.shape[1:]} | ({validation[0].shape[1:]} if validation else set()) \
        | ({population[0].shape[1:]} if population else set())
    if len(shapes) != 1:
        raise InputError(f"target: members, nonmembers (validation, population) records must have one shape; "
                         f"got {sorted(shapes)}")
    if "input_shape" in target and tuple(target["input_shape"]) != X_in.shape[1:]:
        raise InputError(f"target.input_shape is {tuple(target['input_shape'])} but the records have shape {X_in.shape[1:]}")

    adapter, sha, device = load_target(target, base_dir=base)
    expected = adapter.record_shape
    if expected is not None and tuple(X_in.shape[1:]) != tuple(expected):  # before the first query
        where = target.get("model") or target.get("endpoint")
        raise InputError(f"target.members: the records have shape {tuple(X_in.shape[1:])} per record, but the "
                         f"model {where} takes {tuple(expected)}")
    pool, split, val_idx = supplied_pool((X_in, y_in), (X_out, y_out), n_classes=adapter.n_classes,
                                         validation=validation, population=population, source=SOURCE)
    groups = by_scope(attack_names)
    signals, results, utility = audit_released_model(
        adapter, pool, split, model_name="deployed", attack_names=groups["signals"], mitigations=mitigation_objs,
        config=config, validation_idx=val_idx, show_progress=show_progress, members=["train"])
    reference_info: dict[str, Any] = {}
    special = [n for n in attack_names if n not in groups["signals"]]
    if special:  # the model itself, population records, or references trained by the user's function
        more, reference_info = run_one_model_attacks(
            config=config, dataset=pool, split=split, names=special, model_name="deployed", adapter=adapter,
            mitigations=mitigation_objs, validation_idx=val_idx, device=config.device, show_progress=show_progress,
            trainer=trainer)
        results += more
    for u in utility:  # members are not a retain set here
        u["accuracy"]["retain"] = None
        u["accuracy"]["forget"] = None

    accuracy = accuracy_of(signals)
    architecture = target.get("architecture") or (target.get("kind") if "model" in target else None)
    if architecture is None:
        architecture = "endpoint" if "endpoint" in target else type(adapter).__name__
    recorded = {
        "target": _recorded_target(target),
        "attacks": {"names": attack_names, "members": ["train"], "options": config.attacks.options},
        "metrics": {"fprs": list(metrics.fprs), "n_bootstrap": metrics.n_bootstrap, "confidence": metrics.confidence},
        "mitigations": config.mitigations,
        "policy": policy.to_dict(),
        "seed": config.seed,
    }
    from mia_audit.run.per_record import per_record_sections

    records, slices = per_record_sections(results, pool, split, config)
    return build_result(
        config=recorded, environment=environment(device),
        data=data_section(name=pool.name, sha256=pool.sha256(), n_train=split.train.size, n_test=split.test.size,
                          n_features=pool.input_shape, n_classes=pool.n_classes, source=SOURCE),
        models=[model_record(name="deployed", architecture=architecture, sha256=sha,
                             accuracy={"train": accuracy["train"], "test": accuracy["test"], "retain": None,
                                       "forget": None},
                             outputs=adapter.output_kind, white_box=adapter.white_box, adapter=adapter.describe(),
                             **({"training_code": trainer.to_meta()} if trainer is not None else {}))],
        results=results, policy=policy, evidence=policy_evidence(results),
        mitigations=utility if mitigation_objs else None, reference_models=reference_info or None,
        records=records, slices=slices)


__all__ = ["run_deployed_audit", "check_target", "load_target", "TARGET_KEYS"]
