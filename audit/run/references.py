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
from typing import Any

import numpy as np

from mia_audit.errors import InputError, NotApplicableError
from mia_audit.progress import phase
from mia_audit.seeding import derive_seed

def default_store(config: Any, dataset: Any, pool: np.ndarray, recipe: Any, *, trainer: Any = None,
                  imported: Any = None) -> Path:
    """A cache folder keyed by everything the reference models depend on: with the user's
    training function, its name, its module's source digest and its declared version."""
    fields = {"data": dataset.sha256(), "pool": hashlib.sha256(pool.tobytes()).hexdigest(),
              "model": config.model.name, "params": config.model.params,
              "recipe": None if recipe is None else recipe.to_dict(),
              "n_models": config.references.n_models, "seed": config.seed}
    if trainer is not None:  # a key the built-in models never had: their cached stores keep their folders
        fields["trainer"] = trainer.to_meta()
    if imported is not None:  # a changed folder gets a store of its own (and each store checks its folder)
        folder = Path(imported)
        fields["imported"] = {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                              for p in sorted(folder.rglob("*")) if p.is_file()}
    key = json.dumps(fields, sort_keys=True, default=str)
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
    from mia_audit.models import build_model
    from mia_audit.threads import training_threads

    net = build_model(config.model.name, input_shape=dataset.input_shape, n_classes=dataset.n_classes, seed=0,
                      **config.model.params)
    from mia_audit.frameworks import to_tensor

    sample = to_tensor(dataset.X[:1], copy=True)
    sample = sample.float() if sample.is_floating_point() else sample
    return training_threads(net, sample, recipe.batch_size, device=device,
                            models=min(int(refs.n_models), 64))


def released_probs(wrapper: Any, probs: np.ndarray) -> np.ndarray:
    """What a fitted output-mitigation wrapper releases for given probabilities, as (n, C)
    probabilities (labels become one-hot vectors)."""
    from mia_audit.outputs import Outputs

    if wrapper is None:
        return probs
    return _probs(wrapper.transform(Outputs("probs", probs, probs.shape[1]), probs))


def reference_scores(ctx: Any, attack: Any, adapter: Any, member_idx: np.ndarray) -> np.ndarray:
    """The "references" handler: ``attack`` (LiRA, RMIA) on ``adapter``, members then the test
    set, against the reference store ``ctx`` holds."""
    from mia_audit.adapters.wrappers import release_of
    from mia_audit.attacks import ReferenceScorer

    if getattr(attack, "needs_population", False) and ctx.population_positions is None:
        raise NotApplicableError(f"{attack.name} compares each record with population records, records in neither "
                                 "train, test nor validation, and there are none: lower data.train_size or "
                                 "data.test_size (or give target.population)")
    split = ctx.split
    rows = np.r_[np.searchsorted(ctx.pool, member_idx), np.searchsorted(ctx.pool, split.test)]
    if ctx.scorer is None or ctx.scorer.store is not ctx.store:  # one check of the pool, one read of the store
        ctx.scorer = ReferenceScorer(ctx.store, ctx.X_pool, ctx.y_pool, device=ctx.device)
    # under an output mitigation the reference models answer through it too (an adaptive attacker)
    return ctx.scorer.score(attack, adapter, rows, population_indices=ctx.population_positions,
                            release=release_of(adapter))


def query_scores(ctx: Any, attack: Any, adapter: Any, member_idx: np.ndarray) -> np.ndarray:
    """The "queries" handler: ``attack`` (boundary) queries ``adapter`` on members then the test
    set, in one call, so that both sets see the same query distribution."""
    from mia_audit.attacks import run_query_attack

    rows = np.r_[member_idx, ctx.split.test]
    return run_query_attack(attack, adapter, ctx.dataset.X[rows], ctx.dataset.y[rows])


def two_model_entries(ctx: Any, name: str, pair: tuple) -> list[dict[str, Any]]:
    """The "pairs" handler: the two-model attack on one (original, unlearned) pair."""
    model_name, unlearner, original, unlearned = pair
    with phase(f"{name} attack on {model_name} ({ctx.config.references.shadow_models} shadow models)",
               enabled=ctx.show_progress):
        return _two_model_entries(name, model_name, unlearner, original, unlearned, config=ctx.config,
                                  dataset=ctx.dataset, split=ctx.split, shadow_rows=ctx.shadow_rows,
                                  recipe=ctx.recipe, device=ctx.device, variants=ctx.variants, trainer=ctx.trainer)


def ulira_entries(ctx: Any, name: str, pair: tuple) -> list[dict[str, Any]]:
    """The "unlearned-references" handler: U-LiRA on one unlearned model."""
    model_name, unlearner, _, unlearned = pair
    with phase(f"{name} on {model_name} ({ctx.config.references.ulira_models} reference models)",
               enabled=ctx.show_progress):
        return _ulira_entries(name, model_name, unlearner, unlearned, config=ctx.config, dataset=ctx.dataset,
                              split=ctx.split, recipe=ctx.recipe, device=ctx.device, trainer=ctx.trainer)


def _two_model_entries(name, model_name, unlearner, original, unlearned, *, config, dataset, split, shadow_rows,
                       recipe, device, variants, trainer=None) -> list[dict[str, Any]]:
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
                          model=ModelRecipe(config.model.name, recipe, dict(config.model.params), trainer=trainer),
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
                   device, trainer=None) -> list[dict[str, Any]]:
    from mia_audit.run.attack_entries import attack_entry
    from mia_audit.run.shadow_unlearning import ModelRecipe, ulira_audit, ulira_references

    refs = config.references
    pool = np.sort(np.r_[split.train, split.test]).astype(np.int64)
    X, y = dataset.X[pool], dataset.y[pool]
    references = ulira_references(X, y, model=ModelRecipe(config.model.name, recipe, dict(config.model.params),
                                                          trainer=trainer),
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
    from mia_audit.outputs import one_hot

    return one_hot(np.asarray(outputs.values, dtype=np.int64), outputs.n_classes)
