"""The optimiser-step floor of methods that re-initialise most weights (min_steps)."""

from __future__ import annotations

import math

from mia_audit.unlearners import create_unlearner, train_original


def test_min_steps_raises_default_epochs_but_not_given_ones(adult_mlp):
    original = train_original(adult_mlp.model, *adult_mlp.records("train"), adult_mlp.recipe, seed=0, device="cpu")
    retain, forget = adult_mlp.records("retain"), adult_mlp.records("forget")
    batch = adult_mlp.recipe.batch_size
    for name in ("pruning", "distillation"):
        u = create_unlearner(name)
        default = u.unlearn(original, retain, forget, seed=1).details
        assert default["min_steps"] == u.min_steps == 150
        assert default["epochs"] == max(u.default_epochs, math.ceil(150 / (len(retain[1]) // batch)))
        given = create_unlearner(name, epochs=1).unlearn(original, retain, forget, seed=1).details
        assert given["epochs"] == 1 and "min_steps" not in given
    plain = create_unlearner("finetune").unlearn(original, retain, forget, seed=1).details
    assert plain["epochs"] == 2 and "min_steps" not in plain
