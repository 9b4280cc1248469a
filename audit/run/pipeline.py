"""The pipeline of an audit of a model the toolkit trains: one configuration in, one result
(schema v1) out.

Steps: load the data set, split one pool into train/test and a forget set inside train, build
and train the model; then the steps every audited model goes through, whatever made it
(:func:`audit_released_model`, which ``run_deployed_audit`` shares): every signal once per
record set, every signal attack for each member set against the test set, every attack again
under each output mitigation; then the unlearners, the attacks that need more than signals
(dispatched by access kind, :mod:`.dispatch`), the training-time mitigations, and the result
(:func:`mia_audit.result.build_result`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from mia_audit.config import AuditConfig
from mia_audit.environment import environment
from mia_audit.errors import InputError
from mia_audit.progress import phase, progress_enabled
from mia_audit.seeding import derive_seed
from mia_audit.result import build_result, data_section, model_record
from mia_audit.run.attack_entries import accuracy_of, evaluate_attacks, membership_signals, policy_evidence
from mia_audit.threads import audit_threads, set_audit_threads

RESULT_FILE = "report.json"
PDF_FILE = "report.pdf"
SUMMARY_FILE = "summary.md"


@audit_threads
def run_audit(config: AuditConfig, *, show_progress: bool | None = None, train_fn: Any = None) -> dict[str, Any]:
    """Run the audit the configuration describes and return the result (schema v1).

    ``train_fn``: your own training function, ``fit(X, y, *, seed, device) -> model`` (or a
    :class:`mia_audit.user_code.TrainFunction`), in place of ``model.train``; it then trains the
    original and every reference model, each with a seed of its own.

    On the CPU the audit runs with the thread count of :mod:`mia_audit.threads` (one thread for
    a small model unless the caller chose a count), restored when it returns."""
    from mia_audit.attacks import ATTACKS, signal_attack_names
    from mia_audit.adapters import as_adapter, model_sha256
    from mia_audit.data import load_configured_dataset, make_split, select_forget
    from mia_audit.device import resolve_device

    if not isinstance(config, AuditConfig):
        raise InputError(f"config must be a mia_audit.config.AuditConfig; got {type(config).__name__}")
    from mia_audit.user_code import training_function

    trainer = training_function(train_fn, config.model.train, param="model.train", base_dir=config.model.code_dir,
                                version=config.model.version)
    attack_names = list(config.attacks.names) if config.attacks.names is not None else signal_attack_names()
    if not attack_names:
        raise InputError("attacks.names must name at least one attack; got an empty list")
    from mia_audit.attacks import create_attack

    for name in config.attacks.options:
        ATTACKS.get(name)
    for name in attack_names:  # unknown names and options fail now, not after training
        create_attack(name, seed=config.seed, **config.attacks.options.get(name, {}))
    from mia_audit.run.dispatch import by_scope

    groups = by_scope(attack_names)
    special_names = groups["model"] + groups["pair"]
    special_names = [n for n in attack_names if n in special_names]  # in the order the user gave
    attack_names = groups["signals"]  # those that score from one model's signals
    from mia_audit.mitigations import create_mitigation

    mitigations = [create_mitigation(m["name"], **{k: v for k, v in m.items() if k != "name"})
                   for m in config.mitigations]
    from mia_audit.run.unlearning import create_unlearners, run_unlearners

    unlearners = create_unlearners(config.unlearners)
    from mia_audit.run.mitigations import by_kind

    kinds = by_kind(mitigations)
    training_mitigations = kinds["training"]  # dp-sgd: a model of its own
    mitigations = kinds["output"]
    device = resolve_device(config.device)

    dataset = load_configured_dataset(config.data)  # a registered data set, or your own records file
    from mia_audit.run.per_record import check_slice_columns

    check_slice_columns(config.report, dataset)  # before any training
    split = make_split(
        dataset,
        train_size=config.data.train_size,
        test_size=config.data.test_size,
        stratify=dataset.y if config.data.stratify else None,
        seed=derive_seed(config.seed, "split"),
    )
    split = select_forget(dataset, split, config.forget.to_spec(), seed=derive_seed(config.seed, "forget"))

    if trainer is not None:
        if training_mitigations:
            raise InputError(f"mitigations: {training_mitigations[0].name} trains built-in torch models only; "
                             f"model.train ({trainer.name}) trains your own")
        with phase(f"training the original model ({trainer.name}, {split.train.size} records)",
                   enabled=show_progress):
            trained = trainer.train(dataset.X[split.train], dataset.y[split.train],
                                    seed=derive_seed(config.seed, "train"), device=device,
                                    n_classes=dataset.n_classes)
        model, architecture = None, trainer.name
        recipe = _user_recipe(config, trained.model) if unlearners else None  # the gradient methods' settings
    else:
        model, recipe, trained = _train_builtin(config, dataset, split, device, training_mitigations,
                                                show_progress)
        architecture = config.model.name
    adapter = as_adapter(trained.model, n_classes=dataset.n_classes)
    signals, results, utility = audit_released_model(
        adapter, dataset, split, model_name="original", attack_names=attack_names, mitigations=mitigations,
        config=config, validation_idx=validation_indices(split, config), show_progress=show_progress)
    unlearned_models: list[dict[str, Any]] = []
    unlearner_summary: list[dict[str, Any]] = []
    objects: dict[str, list] = {"targets": [], "pairs": []}
    if unlearners:
        unlearned_models, entries, used, unlearner_summary, objects = run_unlearners(
            config=config, dataset=dataset, split=split, model=model, recipe=recipe, trained=trained, trainer=trainer,
            unlearners=unlearners, attack_names=attack_names, mitigations=mitigations,
            validation_idx=validation_indices(split, config), device=device, show_progress=show_progress)
        results += entries
        utility += used
    special_info: dict[str, Any] = {}
    if special_names:
        from mia_audit.run.dispatch import run_special_attacks

        targets = [("original", trained.model, list(config.attacks.members))] + objects["targets"]
        entries, special_info = run_special_attacks(
            config=config, dataset=dataset, split=split, names=special_names, targets=targets,
            pairs=objects["pairs"], mitigations=mitigations, validation_idx=validation_indices(split, config),
            recipe=recipe, device=device, show_progress=show_progress, trainer=trainer)
        results += entries
    if unlearners:
        from mia_audit.run.unlearning import add_retrain_gaps

        add_retrain_gaps(results)
    mitigated_models: list[dict[str, Any]] = []
    dp_audits: list[dict[str, Any]] = []
    for m in training_mitigations:
        name = m.name if len(training_mitigations) == 1 else m.label
        with phase(f"training the {m.label} model", enabled=show_progress):
            private = m.train(model, dataset.X[split.train], dataset.y[split.train], recipe,
                              seed=derive_seed(config.seed, "train", m.label), device=device,
                              progress=progress_enabled(show_progress))
        with phase(f"attacks on {name}", enabled=show_progress):
            private_signals = membership_signals(as_adapter(private.model, n_classes=dataset.n_classes), dataset,
                                                 split)
            results += evaluate_attacks(private_signals, model=name, attack_names=attack_names,
                                        config=config, show_progress=show_progress)
        mitigated_models.append(model_record(
            name=name, mitigation=m.label, architecture=config.model.name, seconds=private.seconds,
            sha256=model_sha256(private.model), accuracy=accuracy_of(private_signals), outputs="logits",
            white_box=True, **private.privacy()))  # epsilon, delta, noise_multiplier, max_grad_norm, accountant
        if config.report.dp_audit:
            from mia_audit.run.dp_audit import canary_audit

            with phase(f"auditing the {m.label} claim in one run ({config.report.dp_canaries} canaries)",
                       enabled=show_progress):
                audit = canary_audit(m, model, dataset.X[split.train], dataset.y[split.train], recipe,
                                     n_canaries=config.report.dp_canaries, seed=derive_seed(config.seed, "dp-audit", m.label),
                                     device=device, k_plus=config.report.dp_guesses, k_minus=config.report.dp_guesses,
                                     confidence=config.metrics.confidence, n_classes=dataset.n_classes)
            dp_audits.append({"model": name, **audit})
    original = model_record(name="original", architecture=architecture, seconds=trained.seconds,
                            sha256=model_sha256(trained.model), accuracy=accuracy_of(signals),
                            outputs=adapter.output_kind, white_box=adapter.white_box,
                            **({"training_code": trainer.to_meta()} if trainer is not None else {}))
    from mia_audit.run.per_record import per_record_sections

    records, slices = per_record_sections(results, dataset, split, config)
    from mia_audit.unlearning_verdict import unlearning_verdicts

    verdicts = unlearning_verdicts({"models": [original, *unlearned_models, *mitigated_models], "results": results})
    return build_result(
        config=config.to_dict(), environment=environment(str(trained.device)),
        data=data_section(name=dataset.name, sha256=dataset.sha256(), n_train=split.train.size,
                          n_test=split.test.size, n_forget=split.forget.size, n_retain=split.retain.size,
                          n_features=dataset.input_shape, n_classes=dataset.n_classes,
                          source=dataset.meta.get("source"), license=dataset.meta.get("license"),
                          preprocessing=dataset.meta.get("preprocessing")),
        models=[original, *unlearned_models, *mitigated_models], results=results,
        policy=config.policy, evidence=policy_evidence(results),
        mitigations=utility if mitigations else None, unlearners=unlearner_summary if unlearners else None,
        reference_models=special_info or None, records=records, slices=slices, dp_audit=dp_audits or None,
        unlearning_verdicts=verdicts or None)


def _train_builtin(config: AuditConfig, dataset, split, device, training_mitigations, show_progress):
    """``(model, recipe, trained)``: the configured built-in model, built and trained with its recipe
    (``model.training`` overriding the recipe's fields)."""
    from mia_audit.models import build_model
    from mia_audit.training import recipe_for, train_model

    model = build_model(
        config.model.name,
        input_shape=dataset.input_shape,
        n_classes=dataset.n_classes,
        seed=derive_seed(config.seed, "model"),
        **config.model.params,
    )
    recipe = recipe_for(config.model.name, dataset.kind)
    if config.model.training:
        if recipe is None:
            raise InputError(f"model.training: model {config.model.name!r} takes its options in model.params")
        recipe = _with_training(recipe, config.model.training)
        if recipe.freeze_after:  # the names must be this model's, said before any training
            from mia_audit.training import frozen_parameters

            try:
                frozen_parameters(dict(model.named_parameters()), recipe)
            except InputError as exc:
                raise _as_training_error(exc) from None
    if training_mitigations and recipe is None:
        raise InputError(f"mitigations: {training_mitigations[0].name} trains torch models only; "
                         f"got model {config.model.name!r}")
    set_audit_threads(model, dataset.X[split.train[:1]], recipe and recipe.batch_size, device=device)
    with phase(f"training the original model ({config.model.name}, {split.train.size} records)",
               enabled=show_progress):
        trained = train_model(
            model, dataset.X[split.train], dataset.y[split.train], recipe,
            seed=derive_seed(config.seed, "train"), device=device, progress=progress_enabled(show_progress),
        )
    return model, recipe, trained


def _user_recipe(config: AuditConfig, model: Any):
    """The optimiser settings the gradient unlearners use on your own torch module: ``[model]
    training`` over :class:`mia_audit.training.TrainRecipe`'s defaults (your ``fit`` is a black box
    to them); None for a model that is not a torch module."""
    from mia_audit.frameworks import is_torch_module
    from mia_audit.training import TrainRecipe

    if not is_torch_module(model):
        return None
    return _with_training(TrainRecipe(), config.model.training)


def _with_training(recipe: Any, training: dict[str, Any]) -> Any:
    """``recipe`` with ``[model] training``'s fields; a key it lacks or a bad value names
    ``model.training.<key>`` as the user wrote it."""
    allowed = {f.name for f in dataclasses.fields(recipe)}
    unknown = sorted(set(training) - allowed)
    if unknown:
        raise InputError(f"model.training: unknown key {unknown[0]!r}; allowed keys are {', '.join(sorted(allowed))}")
    try:
        return dataclasses.replace(recipe, **training)
    except InputError as exc:
        raise _as_training_error(exc) from None


def _as_training_error(exc: InputError) -> InputError:
    """``exc`` naming the key as the user wrote it: model.training.epochs, not recipe.epochs."""
    text = str(exc)
    return InputError("model.training." + text[len("recipe."):] if text.startswith("recipe.") else text)


def audit_released_model(adapter, dataset, split, *, model_name: str, attack_names, mitigations, config: AuditConfig,
                         validation_idx, show_progress: bool | None = None, members=None):
    """The steps every audited model goes through, whatever made it: its signals on the audit's
    record sets, every signal attack on them, then every attack again under each post-hoc
    output mitigation. Returns ``(signals, entries, mitigation utility rows)``."""
    with phase(f"attacks on {model_name} ({len(attack_names)} attacks)", enabled=show_progress):
        signals = membership_signals(adapter, dataset, split)
        entries = evaluate_attacks(signals, model=model_name, attack_names=attack_names, config=config,
                                   show_progress=show_progress, members=members)
    utility: list[dict[str, Any]] = []
    if mitigations:
        from mia_audit.run.mitigations import evaluate_mitigations

        with phase(f"mitigations on {model_name} ({', '.join(m.label for m in mitigations)})",
                   enabled=show_progress):
            more, utility = evaluate_mitigations(
                adapter, dataset, split, mitigations=mitigations, attack_names=attack_names, config=config,
                model_name=model_name, validation_indices=validation_idx, show_progress=show_progress,
                **({} if members is None else {"members": members}))
        entries += more
    return signals, entries, utility


def validation_indices(split, config: AuditConfig) -> np.ndarray | None:
    """``data.validation_size`` records drawn (seeded) from those in neither train nor test."""
    size = config.data.validation_size
    if size is None:
        return None
    unused = split.unused
    if isinstance(size, float) and not isinstance(size, bool) and 0 < size < 1:
        count = int(round(size * split.n))
    elif isinstance(size, int) and not isinstance(size, bool) and size > 0:
        count = size
    else:
        raise InputError(f"data.validation_size must be a fraction in (0, 1) or a positive count; got {size!r}")
    if count > unused.size:
        raise InputError(
            f"data.validation_size asks for {count} records, but only {unused.size} are in neither train nor test; "
            "lower data.train_size or data.test_size"
        )
    from mia_audit.seeding import rng

    return np.sort(rng(config.seed, "validation").choice(unused, size=count, replace=False))


def write_outputs(result: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Render every output of a result into ``out_dir``, as one set.

    Everything is rendered in memory first, then written into a fresh directory beside
    ``out_dir`` that replaces it in one step (:func:`mia_audit.output_set.replace_output_set`):
    a failure or a kill leaves the previous set whole, never a JSON beside another run's PDF.
    Other files in ``out_dir`` are kept.
    """
    from mia_audit.reports.markdown_summary import summary_markdown
    from mia_audit.reports.pdf_report import render_pdf
    from mia_audit.reports.result_json import dumps
    from mia_audit.reports.roc_plot import is_roc_file, roc_files

    from mia_audit.output_set import replace_output_set

    out = check_out_dir(out_dir)
    rendered = {
        RESULT_FILE: dumps(result).encode("utf-8"),
        PDF_FILE: render_pdf(result),
        SUMMARY_FILE: summary_markdown(result).encode("utf-8"),
        **roc_files(result),  # roc-<model>.png, one figure per model
    }
    return replace_output_set(out, rendered, owned=is_roc_file)


def check_out_dir(out_dir: str | Path) -> Path:
    """``out_dir`` as a Path; refuses a file, or a path below a file, before any work is done."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out must be a directory; got the file {out}")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"--out must be a directory; {out} lies below the file {parent}")
            break
    return out
