"""The attack contract: every registered attack declares one access kind, and the pipeline's
dispatch table has a handler for every kind (issue 10)."""

import pytest

from mia_audit.attacks import ACCESS_KINDS, ATTACKS, access_of, needs_more_than_signals
from mia_audit.run.dispatch import HANDLERS, by_scope, handler_for


@pytest.mark.parametrize("name", ATTACKS.names())
def test_every_registered_attack_declares_a_kind_the_pipeline_handles(name):
    factory = ATTACKS.get(name)
    kind = access_of(factory)
    assert kind in ACCESS_KINDS, f"{name} declares access {kind!r}; allowed: {ACCESS_KINDS}"
    assert handler_for(name) == (kind, HANDLERS[kind])
    assert needs_more_than_signals(factory) == (kind != "signals")


def test_the_table_has_exactly_one_row_per_kind():
    assert set(HANDLERS) == set(ACCESS_KINDS)
    assert {h.scope for h in HANDLERS.values()} == {"signals", "model", "pair"}


def test_the_kinds_of_the_shipped_attacks():
    """Golden: the declared kinds of the attacks the toolkit ships (a new attack adds a line)."""
    kinds = {n: access_of(ATTACKS.get(n)) for n in ATTACKS.names()}
    assert kinds["loss"] == kinds["gap"] == kinds["loss-lr"] == "signals"
    assert kinds["lira-online"] == kinds["rmia-offline"] == "references"
    assert kinds["boundary"] == "queries"
    assert kinds["two-model"] == "pairs"
    assert kinds["u-lira"] == "unlearned-references"
    assert kinds["qmia"] == "population"


def test_by_scope_keeps_the_order_and_refuses_unknown_names():
    groups = by_scope(["boundary", "loss", "two-model", "lira-online", "confidence", "u-lira"])
    assert groups == {"signals": ["loss", "confidence"], "model": ["boundary", "lira-online"],
                      "pair": ["two-model", "u-lira"]}
    from mia_audit.errors import InputError

    with pytest.raises(InputError, match="attack must be one of"):
        by_scope(["nope"])


def test_a_kind_without_a_handler_is_refused(monkeypatch):
    factory = ATTACKS.get("loss")
    monkeypatch.setattr(factory, "access", "telepathy")
    from mia_audit.errors import InputError

    with pytest.raises(InputError, match="declares access 'telepathy'; the pipeline runs signals, references"):
        handler_for("loss")
