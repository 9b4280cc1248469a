"""Attack dispatch: one table from an attack's declared access kind to the code that runs it.

Every registered attack declares ``access`` (:attr:`mia_audit.attacks.base.Attack.access`), one
of :data:`mia_audit.attacks.ACCESS_KINDS`. :data:`HANDLERS` maps each kind to its handler and
its scope:

- ``"signals"``: scored from one model's signals (:func:`.attack_entries.evaluate_attacks`,
  which the pipeline calls per audited model and per mitigation);
- ``"references"``, ``"queries"``, ``"population"``: one audited model at a time, each output
  mitigation included; the handler returns the scores of members then test records (reference
  models from the store, the model's own answers to queries, or a fit on population records:
  those in neither train, test nor validation, :attr:`Context.population`);
- ``"pairs"``, ``"unlearned-references"``: one (original, unlearned) pair at a time; the handler
  returns whole result entries.

Adding a kind of attack means one access kind in ``attacks/base.py`` and one row here; the
conformance test (``tests/attacks/test_dispatch.py``) fails while any registered attack's kind
has no handler.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from mia_audit.errors import InputError, NotApplicableError
from mia_audit.progress import phase, progress_enabled
from mia_audit.seeding import derive_seed, rng
from mia_audit.run.attack_entries import attack_entry, evaluate_attacks, not_applicable_entry
from mia_audit.run.references import (default_store, query_scores, reference_scores, reference_threads,
                                      two_model_entries, ulira_entries)
from mia_audit.run.population import population_scores


@dataclasses.dataclass(frozen=True)
class Handler:
    """How the pipeline runs one access kind: ``scope`` is "signals", "model" or "pair"."""

    scope: str
    run: Callable[..., Any]


HANDLERS: dict[str, Handler] = {
    "signals": Handler("signals", evaluate_attacks),
    "references": Handler("model", reference_scores),
    "queries": Handler("model", query_scores),
    "pairs": Handler("pair", two_model_entries),
    "unlearned-references": Handler("pair", ulira_entries),
    "population": Handler("model", population_scores),
}


def handler_for(name: str) -> tuple[str, Handler]:
    """``(access kind, handler)`` of the registered attack ``name``."""
    from mia_audit.attacks import ATTACKS, access_of

    kind = access_of(ATTACKS.get(name))
    if kind not in HANDLERS:  # a registered attack of the user's with a kind no handler runs
        raise InputError(f"attack {name!r} declares access {kind!r}; the pipeline runs {', '.join(HANDLERS)}")
    return kind, HANDLERS[kind]


def by_scope(names: Sequence[str]) -> dict[str, list[str]]:
    """``names`` grouped by their handler's scope (order kept): {"signals": [...], "model": [...], "pair": [...]}."""
    out: dict[str, list[str]] = {"signals": [], "model": [], "pair": []}
    for name in names:
        out[handler_for(name)[1].scope].append(name)
    return out


@dataclasses.dataclass
class Context:
    """What the handlers of one audit read: the configuration, the records, and what the audit
    prepared for them (the reference store and its pool, the shadow rows, the mitigations)."""

    config: Any
    dataset: Any
    split: Any
    mitigations: Sequence[Any]
    validation: Optional[tuple[np.ndarray, np.ndarray]]
    recipe: Any
    device: Any
    show_progress: Optional[bool]
    store: Any = None
    pool: Optional[np.ndarray] = None
    X_pool: Optional[np.ndarray] = None
    y_pool: Optional[np.ndarray] = None
    population_positions: Optional[np.ndarray] = None
    #: the store's attack scorer (mia_audit.attacks.reference_base.ReferenceScorer): each audited
    #: model variant queried once per record, however many reference attacks and member sets
    scorer: Any = None
    #: records in neither train, test nor validation (indices into ``dataset``): RMIA's z and QMIA's fit set
    population: Optional[np.ndarray] = None
    shadow_rows: Optional[np.ndarray] = None
    #: the user's training function (mia_audit.user_code), which trains the shadow models too
    trainer: Any = None

    def variants(self, model: Any) -> list[tuple[str, Any, Any]]:
        """``(mitigation label, adapter, fitted wrapper or None)`` for ``model`` as released: bare,
        then under each output mitigation."""
        from mia_audit.adapters import as_adapter

        adapter = as_adapter(model, n_classes=self.dataset.n_classes)
        out = [("none", adapter, None)]
        for m in self.mitigations:
            wrapped = m.apply(adapter, validation=self.validation)
            out.append((m.label, wrapped, wrapped))
        return out


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
    trainer: Any = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Result entries of the attacks ``names`` whose access is not "signals", each run by its
    kind's handler. ``trainer``: the user's training function (:mod:`mia_audit.user_code`),
    which then trains the reference models in place of the built-in architecture and recipe.

    ``targets``: (model name, model, member sets) for every audited model; ``pairs``:
    (model name, unlearner, its original Trained, the unlearned Trained) per unlearned model.
    Returns ``(entries, info)``; ``info`` describes the reference store and shadow settings.
    """
    from mia_audit.adapters.wrappers import release_of
    from mia_audit.attacks import create_attack

    kinds = {n: handler_for(n)[0] for n in names}
    X, y = dataset.X, dataset.y
    validation = None if validation_idx is None else (X[validation_idx], y[validation_idx])
    refs = config.references
    options = config.attacks.options
    ctx = Context(config=config, dataset=dataset, split=split, mitigations=mitigations, validation=validation,
                  recipe=recipe, device=device, show_progress=show_progress, trainer=trainer)
    entries: list[dict[str, Any]] = []
    info: dict[str, Any] = {}

    used = np.r_[split.train, split.test, [] if validation_idx is None else validation_idx].astype(np.int64)
    spare = np.setdiff1d(np.arange(split.n), used)
    order = rng(config.seed, "population").permutation(spare)
    population = np.sort(order[:min(refs.population, order.size)])
    remaining = np.sort(order[population.size:])
    ctx.population = population
    if "references" in kinds.values():  # one store for every audited model
        pool = np.sort(np.r_[split.train, split.test, population]).astype(np.int64)
        if refs.imported is not None:  # trained elsewhere: their signals here
            from mia_audit.reference.imported import import_references

            ids = dataset.ids[pool] if getattr(dataset, "ids", None) is not None else pool
            path = Path(refs.store) if refs.store else default_store(config, dataset, pool, None,
                                                                     imported=refs.imported)
            with phase(f"reference models (imported from {refs.imported})", enabled=show_progress):
                ctx.store = import_references(path, refs.imported, X[pool], y[pool], ids,
                                              n_classes=dataset.n_classes, seed=derive_seed(config.seed, "references"),
                                              load_options=refs.imported_options)
            how = {"imported": refs.imported}
        else:
            from mia_audit.reference import train_references

            path = Path(refs.store) if refs.store else default_store(config, dataset, pool, recipe, trainer=trainer)
            threads = reference_threads(config, dataset, recipe, device) if trainer is None else contextlib.nullcontext()
            with threads, phase(f"reference models ({refs.n_models}, trained or loaded)", enabled=show_progress):
                ctx.store = train_references(path, X[pool], y[pool], model=config.model.name, n_models=refs.n_models,
                                             seed=derive_seed(config.seed, "references"), recipe=recipe,
                                             model_params=config.model.params, n_classes=dataset.n_classes,
                                             executor=refs.executor, device=device, ray_address=refs.ray_address,
                                             progress=progress_enabled(show_progress), trainer=trainer)
            how = {"executor": refs.executor}
        info["references"] = {"store": str(path), "n_models": ctx.store.n_models, "n_pool": int(pool.size),
                              "n_population": int(population.size), **how,
                              "n_queries": int(ctx.store.meta.get("n_queries", 1))}
        ctx.pool, ctx.X_pool, ctx.y_pool = pool, X[pool], y[pool]
        ctx.population_positions = np.searchsorted(pool, population) if population.size else None

    groups = by_scope(names)
    model_names = groups["model"]
    for model_name, model, member_sets in targets if model_names else []:
        with phase(f"{', '.join(model_names)} on {model_name}", enabled=show_progress):
            for label, adapter, _ in ctx.variants(model):
                for name in model_names:
                    for members in member_sets:
                        member_idx = getattr(split, members)
                        if member_idx.size == 0:
                            continue
                        attack = create_attack(name, seed=derive_seed(config.seed, "attack", name),
                                               **options.get(name, {}))
                        try:
                            scores = HANDLERS[kinds[name]].run(ctx, attack, adapter, member_idx)
                        except NotApplicableError as exc:
                            entries.append(not_applicable_entry(model=model_name, mitigation=label, attack=name,
                                                                members=members, reason=str(exc)))
                            continue
                        n_in = member_idx.size
                        entry = attack_entry(scores[:n_in], scores[n_in:], model=model_name, mitigation=label,
                                             attack=name, members=members, config=config)
                        if kinds[name] == "references" and release_of(adapter) is not None:
                            entry["reference_outputs"] = "mitigated" if ctx.scorer.can_release else "unmitigated"
                            if not ctx.scorer.can_release:
                                entry.setdefault("warnings", []).append(
                                    "the reference models are kept as their signals only (your training code or "
                                    "imported models), so they could not answer through this mitigation: a "
                                    "non-adaptive attack, whose drop may overstate the mitigation's gain")
                        entries.append(entry)

    pair_names = groups["pair"]
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
        ctx.shadow_rows = shadow_rows
        info["shadow"] = {"n_shadow_pool": int(shadow_rows.size), "shadow_models": refs.shadow_models,
                          "deletions": refs.deletions}
        for pair in pairs:
            if wanted is not None and pair[1].name not in wanted:
                continue
            for name in pair_names:
                entries += HANDLERS[kinds[name]].run(ctx, name, pair)
    return entries, info


#: what an attack of each kind needs that an audit of one given model may lack (its not-applicable reason)
ONE_MODEL_NEEDS = {
    "references": "needs train_fn / target.train (your training function: the reference models are trained the "
                  "way the target was) and population records (target.population: the same distribution, "
                  "outside the model's training set), or references.imported (models trained elsewhere)",
    "pairs": "compares an original with its unlearned model; an audit of one model has one model "
             "(mia-audit run with [[unlearners]] gives the pairs)",
    "unlearned-references": "needs reference models unlearned by the target's method; an audit of one model "
                            "has no unlearning method (mia-audit run with [[unlearners]])",
}


def run_one_model_attacks(*, config: Any, dataset: Any, split: Any, names: Sequence[str], model_name: str,
                          adapter: Any, mitigations: Sequence[Any], validation_idx: Optional[np.ndarray],
                          device: Any, show_progress: Optional[bool] = None, trainer: Any = None
                          ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The special attacks ``names`` on one given model (a model file, an endpoint, a model in a
    test): those its access allows run (queries; population records; references with the user's
    training function or imported models), the others get a not-applicable entry saying what they
    need. Returns ``(entries, info)`` as :func:`run_special_attacks`."""
    references = trainer is not None or config.references.imported is not None
    kinds = {n: handler_for(n)[0] for n in names}
    runnable = [n for n in names if kinds[n] in ("queries", "population") or (kinds[n] == "references" and references)]
    entries: list[dict[str, Any]] = []
    info: dict[str, Any] = {}
    if runnable:
        entries, info = run_special_attacks(
            config=config, dataset=dataset, split=split, names=runnable, targets=[(model_name, adapter, ["train"])],
            pairs=[], mitigations=mitigations, validation_idx=validation_idx, recipe=None, device=device,
            show_progress=show_progress, trainer=trainer)
    entries += [not_applicable_entry(model=model_name, mitigation="none", attack=n, members="train",
                                     reason=f"{n} {ONE_MODEL_NEEDS[kinds[n]]}") for n in names if n not in runnable]
    return entries, info


__all__ = ["HANDLERS", "Handler", "Context", "handler_for", "by_scope", "run_special_attacks",
           "run_one_model_attacks", "ONE_MODEL_NEEDS"]
