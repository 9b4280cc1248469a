"""One way to refuse an unknown option: ``Registry.create``, one message shape for every registry
(``<kind> '<name>': unknown option 'x'; valid options: a, b``), and the shared int checks."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mia_audit.attacks import ATTACKS, create_attack
from mia_audit.checks import boolean, fraction, nonnegative_int, positive_int, probability, text
from mia_audit.data import DATASETS, PREDICATES, load_dataset
from mia_audit.errors import InputError
from mia_audit.mitigations import MITIGATIONS, create_mitigation
from mia_audit.models import MODELS, build_model, model_params
from mia_audit.registry import Registry, unknown_options_message
from mia_audit.unlearners import UNLEARNERS, create_unlearner


def shape_of(kind: str, name: str, word: str, allowed) -> str:
    """The one message shape, as a full-match regex."""
    valid = ", ".join(sorted(allowed)) or "none"
    return rf"^{re.escape(kind)} '{re.escape(name)}': unknown {word} 'bogus'; valid {word}s: {re.escape(valid)}$"


# ------------------------------------------------------------------ every registry, through its public entry

ENTRIES = [
    ("attack", "option", ATTACKS, "loss-lr", lambda: create_attack("loss-lr", seed=0, bogus=1)),
    ("unlearner", "option", UNLEARNERS, "finetune", lambda: create_unlearner("finetune", bogus=1)),
    ("mitigation", "parameter", MITIGATIONS, "top-k", lambda: create_mitigation("top-k", bogus=1)),
    ("dataset", "option", DATASETS, "digits", lambda: load_dataset("digits", bogus=1)),
    ("model", "parameter", MODELS, "mlp",
     lambda: build_model("mlp", input_shape=(4,), n_classes=2, seed=0, bogus=1)),
    ("forget predicate", "option", PREDICATES, "older", lambda: PREDICATES.create("older", bogus=1)),
]


@pytest.mark.parametrize("kind, word, registry, name, call", ENTRIES, ids=[e[0] for e in ENTRIES])
def test_every_public_entry_refuses_an_unknown_option_the_same_way(kind, word, registry, name, call):
    assert registry.kind == kind and registry.word == word
    with pytest.raises(InputError, match=shape_of(kind, name, word, registry.options(name))):
        call()


@pytest.mark.parametrize("registry", [ATTACKS, UNLEARNERS, MITIGATIONS, DATASETS, MODELS, PREDICATES],
                         ids=lambda r: r.kind)
def test_every_registered_factory_refuses_an_unknown_option(registry):
    """Every name of every registry: the check runs before the factory (no data read, no model built)."""
    for name in registry.names():
        with pytest.raises(InputError, match=shape_of(registry.kind, name, registry.word, registry.options(name))):
            registry.create(name, bogus=1)


def test_the_options_listed_are_the_factories_keywords():
    assert ATTACKS.options("loss-lr") == ["n_splits", "seed", "C"]  # the factory's order
    assert UNLEARNERS.options("retrain") == []
    assert "data_dir" not in DATASETS.options("digits") and DATASETS.options("digits") == ["as_"]
    for name in MODELS.names():  # what build_model passes itself is not a user parameter
        assert not {"input_shape", "n_classes", "seed"} & set(MODELS.options(name))
        assert model_params(name) == MODELS.options(name)
    assert "subsample" in MODELS.options("xgboost")  # declared: the builder takes **extra
    assert sorted(MITIGATIONS.options("dp-sgd")) == ["delta", "max_grad_norm", "noise_multiplier", "target_epsilon"]


def test_xgboost_extra_parameters_go_through_the_registry_check():
    with pytest.raises(InputError, match=r"^model 'xgboost': unknown parameters 'depth', 'eta'; valid parameters: "
                                         r"colsample_bytree, gamma, learning_rate, max_depth, .*subsample$"):
        build_model("xgboost", input_shape=(4,), n_classes=2, seed=0, depth=3, eta=0.1)


def test_a_known_option_still_passes_and_seed_reaches_attacks_that_take_it():
    attack = create_attack("loss-lr", seed=7, n_splits=3)
    assert attack.n_splits == 3 and attack.seed == 7
    assert create_attack("loss", seed=7) is not None  # an attack without a seed ignores it
    assert create_unlearner("finetune", epochs=1).epochs == 1


# ------------------------------------------------------------------ Registry.create itself


def _widgets() -> Registry:
    reg: Registry = Registry("widget", supplied=("context",))

    @reg.register("plain")
    def plain(*, size: int = 1, colour: str = "red", context=None):
        return {"size": size, "colour": colour, "context": context}

    @reg.register("bare")
    def bare():
        return "bare"

    @reg.register("open", options=("alpha", "beta"))
    def open_(**extra):
        return extra

    return reg


def test_registry_create_refuses_unknown_options():
    reg = _widgets()
    assert reg.create("plain", size=2) == {"size": 2, "colour": "red", "context": None}
    assert reg.create("plain", context="given by the toolkit")["context"] == "given by the toolkit"
    assert reg.options("plain") == ["size", "colour"]  # supplied arguments are not listed
    with pytest.raises(InputError, match=r"^widget 'plain': unknown option 'bogus'; valid options: colour, size$"):
        reg.create("plain", bogus=1)
    with pytest.raises(InputError, match=r"^widget 'bare': unknown option 'bogus'; valid options: none$"):
        reg.create("bare", bogus=1)
    with pytest.raises(InputError, match=r"^widget 'plain': unknown options 'a', 'b'; valid options: colour, size$"):
        reg.create("plain", b=1, a=2, size=3)
    assert reg.create("open", alpha=1) == {"alpha": 1}
    with pytest.raises(InputError, match=r"^widget 'open': unknown option 'gamma'; valid options: alpha, beta$"):
        reg.create("open", gamma=1)
    with pytest.raises(InputError, match=r"^widget must be one of bare, open, plain; got 'nope'$"):
        reg.create("nope")


def test_a_factory_taking_kwargs_must_declare_its_options():
    reg: Registry = Registry("widget")
    with pytest.raises(ValueError, match=r"takes \*\*kwargs"):
        reg.register("loose")(lambda **kw: kw)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("x")(lambda: 1)
        reg.register("x")(lambda: 2)


def test_message_helper_and_parameter_word():
    reg: Registry = Registry("gadget", word="parameter")
    reg.register("g")(lambda *, k=1: k)
    with pytest.raises(InputError, match=r"^gadget 'g': unknown parameter 'K'; valid parameters: k$"):
        reg.create("g", K=2)
    assert unknown_options_message("attack 'loss'", ["fast"], ["a", "b"]) == \
        "attack 'loss': unknown option 'fast'; valid options: a, b"


# ------------------------------------------------------------------ the shared checks


@pytest.mark.parametrize("value", [-1, True, False, 1.5, "3", None, np.float64(2.0), np.bool_(True)])
def test_nonnegative_int_refuses(value):
    with pytest.raises(InputError, match=rf"^n must be an integer >= 0; got {re.escape(repr(value))}$"):
        nonnegative_int("n", value)


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "3", None, np.int64(0)])
def test_positive_int_refuses(value):
    with pytest.raises(InputError, match=rf"^n must be an integer >= 1; got {re.escape(repr(value))}$"):
        positive_int("n", value)


def test_int_checks_accept_and_convert():
    assert nonnegative_int("n", 0) == 0 and nonnegative_int("n", 3) == 3
    assert positive_int("n", 1) == 1 and positive_int("n", np.int64(3)) == 3
    assert type(positive_int("n", np.int64(3))) is int and type(nonnegative_int("n", np.int32(0))) is int
    assert positive_int("n", None, allow_none=True) is None and nonnegative_int("n", None, allow_none=True) is None
    with pytest.raises(InputError, match=r"^n must be an integer >= 2; got 1$"):
        positive_int("n", 1, minimum=2)
    with pytest.raises(InputError, match=r"^n must be an integer from 0 to 10; got 11$"):
        nonnegative_int("n", 11, maximum=10)
    with pytest.raises(InputError, match=r"^n must be an integer >= 1 or None; got 0$"):
        positive_int("n", 0, allow_none=True)


def test_positive_int_is_never_zero_or_negative():
    for minimum in (0, -1):  # a "positive" int below 1 is a bug in the caller, not bad input
        with pytest.raises(ValueError, match="nonnegative_int"):
            positive_int("n", 3, minimum=minimum)


def test_other_shared_checks():
    assert fraction("f", 0.5) == 0.5
    for bad in (0, 1, 1.0, True, "0.5", float("nan")):
        with pytest.raises(InputError, match=r"^f must be a number in \(0, 1\); got"):
            fraction("f", bad)
    assert probability("p", 0) == 0.0 and probability("p", 1) == 1.0
    with pytest.raises(InputError, match=r"^p must be a number in \[0, 1\); got 1$"):
        probability("p", 1, high_open=True)
    assert boolean("b", np.bool_(True)) is True
    with pytest.raises(InputError, match=r"^b must be true or false; got 1$"):
        boolean("b", 1, spelling="true or false")
    assert text("t", "x") == "x" and text("t", None, allow_none=True) is None
    with pytest.raises(InputError, match=r"^t must be a name \(text\); got 3$"):
        text("t", 3, allowed="a name (text)")
    with pytest.raises(InputError, match=r"^t must be a non-empty string; got ''$"):
        text("t", "", allowed="a non-empty string", nonempty=True)
