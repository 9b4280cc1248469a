"""The attacks of an audit that need more than one model's signals.

* **Reference attacks** (``lira-*``, ``rmia-*``): K reference models with the target's
  recipe, each on a random half of the pool = train + test + ``references.population``
  records from outside the audit (RMIA's population z), kept in a store that later runs
  reuse (:mod:`mia_audit.reference`). Every audited model (original, unlearned, with each
  output mitigation) is scored on each member set against the test set.
* **Query attacks** (``boundary``): label flips under noise, on every audited model and
  mitigation (they run on label-only outputs too).
* **Pair attacks** (``two-model``, Chen et al. 2021): per unlearned model, shadow
  originals on records outside the audit are unlearned by the same method (the target's
  forget fraction as one group, or single deletions), the attack classifier is fitted on
  the shadow pairs and applied to the target pair on forget (deleted) vs test (never
  seen). The entry holds the paper's comparison with the classical attack on the original
  alone (``comparison``: AUCs, DegCount, DegRate) and warnings when the outputs of the pair
  are identical on many records (the deterministic-model artefact). Under each output
  mitigation both models release mitigated outputs, and the attacker's shadow pairs go
  through the same (fitted) mitigation: seed 003's question, measured.
* ``u-lira`` (Hayes et al. 2024): per unlearned model, reference models trained on random
  halves of train + test, each unlearned by the same method on random forget sets; the
  unlearned model is scored on forget vs test.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from mia_audit.errors import InputError, NotApplicableError
from mia_audit.seeding import derive_seed, rng

REFERENCE_KINDS = ("references", "queries", "pairs")


def attack_kind(factory: Any) -> str:
    """'pairs', 'references', 'queries' or 'signals' for a registered attack class."""
    if getattr(factory, "requires_pairs", False):
        return "pairs"
    if getattr(factory, "name", "") == "u-lira":
        return "ulira"
    if getattr(factory, "requires_references", False):
        return "references"
    if getattr(factory, "requires_queries", False):
        return "queries"
    return "signals"


def default_store(config: Any, dataset: Any, pool: np.ndarray, recipe: Any) -> Path:
    """A cache folder keyed by everything the reference models depend on."""
    key = json.dumps({"data": dataset.sha256(), "pool": hashlib.sha256(pool.tobytes()).hexdigest(),
                      "model": config.model.name, "params": config.model.params,
                      "recipe": None if recipe is None else recipe.to_dict(),
                      "n_models": config.references.n_models, "seed": config.seed}, sort_keys=True, default=str)
    root = Path(os.environ.get("MIA_AUDIT_CACHE") or Path.home() / ".cache" / "mia-audit")
    return root / "references" / hashlib.sha256(key.encode()).hexdigest()[:20]


def reference_threads(config: Any, dataset: Any, recipe: Any, device: Any):
    """The thread policy (:mod:`mia_audit.threads`) for reference models trained in this
    process in lock-step (the "auto" and "batched" executors train up to 64 at once; the
    sequential one goes through ``train_model``, which applies the policy itself; worker
    processes set their own counts)."""
    import contextlib

    refs = config.references
    if recipe is None or refs.executor not in ("auto", "batched") or refs.ray_address is not None:
        return contextlib.nullcontext()
    import torch

    from mia_audit.models import build_model
    from mia_audit.threads import training_threads

    net = build_model(config.model.name, input_shape=dataset.input_shape, n_classes=dataset.n_classes, seed=0,
                      **config.model.params)
    sample = torch.as_tensor(np.array(dataset.X[:1]))
    sample = sample.float() if sample.is_floating_point() else sample
    return training_threads(net, sample, recipe.batch_size, device=device,
                            models=min(int(refs.n_models), 64))


def released_probs(wrapper: Any, probs: np.ndarray) -> np.ndarray:
    """What a fitted output-mitigation wrapper releases for given probabilities, as (n, C)
    probabilities (labels become one-hot vectors)."""
    from mia_audit.outputs import Outputs

    if wrapper is None:
        return probs
    return _probs(wrapper._transform(Outputs("probs", probs, probs.shape[1]), probs))


def run_special_attacks(
    *,
    config: Any,
    dataset: Any,
    split: Any,
    names: Sequence[str],
    targets: Sequence[tuple[str, Any, Sequence[str]]],
    pairs: Sequence[tuple[str, Any, Any, Any]],
    mitigations: Sequence[Any],
    validation_idx: Optional[np.ndarray],
    recipe: Any,
    device: Any,
    show_progress: Optional[bool] = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Result entries of the reference, query and pair attacks ``names``.

    ``targets``: (model name, model, member sets) for every audited model; ``pairs``:
    (model name, unlearner, its original Trained, the unlearned Trained) per unlearned model.
    Returns ``(entries, info)``; ``info`` describes the reference store and shadow settings.
    """
    from mia_audit.attacks import ATTACKS, create_attack, run_query_attack, run_reference_attack

    from mia_audit.adapters import as_adapter
    from mia_audit.progress import phase, progress_enabled
    from mia_audit.run.attack_entries import attack_entry, not_applicable_entry

    kinds = {n: attack_kind(ATTACKS.get(n)) for n in names}
    X, y = dataset.X, dataset.y
    validation = None if validation_idx is None else (X[validation_idx], y[validation_idx])
    refs = config.references
    options = config.attacks.options
    entries: list[dict[str, Any]] = []
    info: dict[str, Any] = {}

    def variants(model: Any) -> list[tuple[str, Any, Any]]:
        adapter = as_adapter(model, n_classes=dataset.n_classes)
        out = [("none", adapter, None)]
        for m in mitigations:
            wrapped = m.apply(adapter, validation=validation)
            out.append((m.label, wrapped, wrapped))
        return out

    # ---- reference attacks (LiRA, RMIA): one store for every audited model
    reference_names = [n for n in names if kinds[n] == "references"]
    store = None
    used = np.r_[split.train, split.test, [] if validation_idx is None else validation_idx].astype(np.int64)
    spare = np.setdiff1d(np.arange(split.n), used)
    order = rng(config.seed, "population").permutation(spare)
    population = np.sort(order[:min(refs.population, order.size)])
    remaining = np.sort(order[population.size:])
    if reference_names:
        from mia_audit.reference import train_references

        pool = np.sort(np.r_[split.train, split.test, population]).astype(np.int64)
        path = Path(refs.store) if refs.store else default_store(config, dataset, pool, recipe)
        with reference_threads(config, dataset, recipe, device), \
                phase(f"reference models ({refs.n_models}, trained or loaded)", enabled=show_progress):
            store = train_references(path, X[pool], y[pool], model=config.model.name, n_models=refs.n_models,
                                     seed=derive_seed(config.seed, "references"), recipe=recipe,
                                     model_params=config.model.params, n_classes=dataset.n_classes,
                                     executor=refs.executor, device=device, ray_address=refs.ray_address,
                                     progress=progress_enabled(show_progress))
        info["references"] = {"store": str(path), "n_models": refs.n_models, "n_pool": int(pool.size),
                              "n_population": int(population.size), "executor": refs.executor}
        pop_pos = np.searchsorted(pool, population) if population.size else None
        X_pool, y_pool = X[pool], y[pool]

    single_names = [n for n in names if kinds[n] in ("references", "queries")]
    for model_name, model, member_sets in targets if single_names else []:
        with phase(f"{', '.join(single_names)} on {model_name}", enabled=show_progress):
            for label, adapter, _ in variants(model):
                for name in names:
                    kind = kinds[name]
                    if kind not in ("references", "queries"):
                        continue
                    for members in member_sets:
                        member_idx = getattr(split, members)
                        if member_idx.size == 0:
                            continue
                        attack = create_attack(name, seed=derive_seed(config.seed, "attack", name),
                                               **options.get(name, {}))
                        try:
                            if kind == "references":
                                rows = np.r_[np.searchsorted(pool, member_idx), np.searchsorted(pool, split.test)]
                                scores = run_reference_attack(attack, store, adapter, X_pool, y_pool, rows,
                                                              population_indices=pop_pos)
                            else:  # one call, so both sets see the same query distribution
                                rows = np.r_[member_idx, split.test]
                                scores = run_query_attack(attack, adapter, X[rows], y[rows])
                        except NotApplicableError as exc:
                            entries.append(not_applicable_entry(model=model_name, mitigation=label, attack=name,
                                                                members=members, reason=str(exc)))
                            continue
                        n_in = member_idx.size
                        entries.append(attack_entry(scores[:n_in], scores[n_in:], model=model_name, mitigation=label,
                                                    attack=name, members=members, config=config))

    # ---- pair attacks (two-model) and u-lira, per unlearned model
    pair_names = [n for n in names if kinds[n] in ("pairs", "ulira")]
    if pair_names and not pairs:
        for name in pair_names:
            entries.append(not_applicable_entry(
                model="original", mitigation="none", attack=name, members="forget",
                reason=f"{name} compares an original with its unlearned model; add [[unlearners]] to the config"))
    if pair_names and pairs:
        wanted = set(refs.pair_unlearners) if refs.pair_unlearners is not None else None
        shadow_rows = remaining
        if refs.shadow_pool is not None and refs.shadow_pool < shadow_rows.size:
            shadow_rows = np.sort(rng(config.seed, "shadow-pool").choice(shadow_rows, refs.shadow_pool, replace=False))
        info["shadow"] = {"n_shadow_pool": int(shadow_rows.size), "shadow_models": refs.shadow_models,
                          "deletions": refs.deletions}
        for model_name, unlearner, original, unlearned in pairs:
            if wanted is not None and unlearner.name not in wanted:
                continue
            for name in pair_names:
                if kinds[name] == "pairs":
                    with phase(f"{name} attack on {model_name} ({refs.shadow_models} shadow models)",
                               enabled=show_progress):
                        entries += _two_model_entries(name, model_name, unlearner, original, unlearned,
                                                      config=config, dataset=dataset, split=split,
                                                      shadow_rows=shadow_rows, recipe=recipe, device=device,
                                                      variants=variants)
                else:
                    with phase(f"{name} on {model_name} ({refs.ulira_models} reference models)", enabled=show_progress):
                        entries += _ulira_entries(name, model_name, unlearner, unlearned, config=config,
                                                  dataset=dataset, split=split, recipe=recipe, device=device)
    return entries, info


def _two_model_entries(name, model_name, unlearner, original, unlearned, *, config, dataset, split, shadow_rows,
                       recipe, device, variants) -> list[dict[str, Any]]:
    import dataclasses

    from mia_audit.run.attack_entries import attack_entry
    from mia_audit.run.shadow_unlearning import ModelRecipe, shadow_pairs, two_model_audit

    refs = config.references
    if shadow_rows.size < 4:
        raise InputError(f"the two-model attack needs shadow records outside the audit's train, test and "
                         f"validation sets; only {shadow_rows.size} remain (lower data.train_size or data.test_size)")
    X, y, C = dataset.X, dataset.y, dataset.n_classes
    shadow_train = int(0.5 * shadow_rows.size)
    if refs.deletions == "single":
        group, per_original = 1, refs.single_deletions
    else:
        group = max(1, int(round(split.forget.size / max(split.train.size, 1) * shadow_train)))
        per_original = 1
    seed = derive_seed(config.seed, "shadow", unlearner.name)
    shadow = shadow_pairs(X[shadow_rows], y[shadow_rows],
                          model=ModelRecipe(config.model.name, recipe, dict(config.model.params)),
                          unlearner=unlearner, n_originals=refs.shadow_models, deletions_per_original=per_original,
                          group_size=group, n_classes=C, seed=seed, device=device)
    records = np.r_[split.forget, split.test]
    is_deleted = np.r_[np.ones(split.forget.size, bool), np.zeros(split.test.size, bool)]
    options = dict(config.attacks.options.get(name, {}))
    options.pop("seed", None)
    out = []
    raw = {k: v for k, v in zip(("original", "unlearned"), (variants(original.model), variants(unlearned.model)))}
    for (label, adapter_o, wrap_o), (_, adapter_u, _) in zip(raw["original"], raw["unlearned"]):
        p_o = _probs(adapter_o.predict(X[records]))
        p_u = _probs(adapter_u.predict(X[records]))
        mitigated = shadow if wrap_o is None else dataclasses.replace(
            shadow, probs_original=released_probs(wrap_o, shadow.probs_original),
            probs_unlearned=released_probs(wrap_o, shadow.probs_unlearned))
        audit = two_model_audit(mitigated, p_o, p_u, is_deleted, seed=derive_seed(config.seed, "attack", name),
                                **options)
        scores = np.asarray(audit["scores"], dtype=np.float64)
        entry = attack_entry(scores[is_deleted], scores[~is_deleted], model=model_name, mitigation=label,
                             attack=name, members="forget", config=config)
        entry["warnings"] = list(entry.get("warnings", [])) + list(audit["warnings"])
        if "comparison" in audit:
            entry["comparison"] = {k: (float(v) if isinstance(v, (float, np.floating)) else v)
                                   for k, v in audit["comparison"].items()}
        entry["settings"] = {"group_size": group, "deletions_per_shadow": per_original,
                             "shadow_models": refs.shadow_models, "n_shadow_pool": int(shadow_rows.size),
                             "feature": audit["settings"]["feature"], "classifier": audit["settings"]["classifier"]}
        out.append(entry)
    return out


def _ulira_entries(name, model_name, unlearner, unlearned, *, config, dataset, split, recipe,
                   device) -> list[dict[str, Any]]:
    from mia_audit.run.attack_entries import attack_entry
    from mia_audit.run.shadow_unlearning import ModelRecipe, ulira_audit, ulira_references

    refs = config.references
    pool = np.sort(np.r_[split.train, split.test]).astype(np.int64)
    X, y = dataset.X[pool], dataset.y[pool]
    references = ulira_references(X, y, model=ModelRecipe(config.model.name, recipe, dict(config.model.params)),
                                  unlearner=unlearner, n_models=refs.ulira_models,
                                  forget_sets_per_model=refs.ulira_forget_sets, n_classes=dataset.n_classes,
                                  seed=derive_seed(config.seed, "u-lira", unlearner.name), device=device)
    rows = np.r_[np.searchsorted(pool, split.forget), np.searchsorted(pool, split.test)]
    forgotten = np.r_[np.ones(split.forget.size, bool), np.zeros(split.test.size, bool)]
    fixed = bool(config.attacks.options.get(name, {}).get("fixed_variance", False))
    audit = ulira_audit(references, unlearned.model, X, y, rows, forgotten, fixed_variance=fixed)
    scores = np.asarray(audit["scores"], dtype=np.float64)
    entry = attack_entry(scores[forgotten], scores[~forgotten], model=model_name, mitigation="none", attack=name,
                         members="forget", config=config)
    entry["settings"] = {"ulira_models": refs.ulira_models, "ulira_forget_sets": refs.ulira_forget_sets,
                         "fixed_variance": fixed}
    return [entry]


def _probs(outputs: Any) -> np.ndarray:
    if outputs.has_posteriors:
        return np.exp(outputs.log_probs())
    labels = np.asarray(outputs.values, dtype=np.int64)
    one_hot = np.zeros((labels.size, outputs.n_classes))
    one_hot[np.arange(labels.size), labels] = 1.0
    return one_hot
