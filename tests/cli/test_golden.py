"""The golden comparison itself (tests/cli/golden): which check a run gets, and what each one catches."""

from __future__ import annotations

import copy

from tests.cli import golden


def _first_auc(result: dict) -> dict:
    return next(r for r in result["results"] if isinstance(r.get("auc"), float))


def test_each_recording_is_checked_exactly_against_itself():
    for name in ("main", "digits"):
        for i, recording in enumerate(golden.recordings(name)):
            how, found = golden.comparison(name, copy.deepcopy(recording))
            assert found == []
            assert how == f"exact (recording {i})"  # the first recording whose canaries match


def test_second_recording_is_another_arithmetic_within_the_bands():
    xeon, epyc = golden.recordings("main")
    assert not golden.same_arithmetic(xeon, epyc)
    assert golden.banded_differences(xeon, epyc, allow_added=True) == []


def test_exact_check_on_the_second_machine_catches_a_small_move():
    run = copy.deepcopy(golden.recordings("main")[1])
    _first_auc(run)["auc"] += 1e-3  # far inside the 0.10 band: only the exact check sees it
    how, found = golden.comparison("main", run)
    assert how == "exact (recording 1)" and len(found) == 1


def test_a_third_arithmetic_gets_the_banded_check_and_its_catches():
    run = copy.deepcopy(golden.recordings("main")[1])
    assert _move_canaries(run) > 0
    how, found = golden.comparison("main", run)
    assert how == "banded" and found == []
    far = copy.deepcopy(run)
    _first_auc(far)["auc"] += 0.2  # outside the 0.10 band
    assert len(golden.comparison("main", far)[1]) == 1
    short = copy.deepcopy(run)
    short["results"].pop()
    assert any("items" in line for line in golden.comparison("main", short)[1])
    flipped = copy.deepcopy(run)
    flipped["verdict"]["status"] = "PASS" if flipped["verdict"]["status"] != "PASS" else "FAIL"
    assert any("/verdict/status" in line for line in golden.comparison("main", flipped)[1])


def _move_canaries(value) -> int:
    """Add 1e-3 to every canary figure (another machine's rounding); the count moved."""
    count = 0
    if isinstance(value, dict):
        for k, v in value.items():
            if k in golden.CANARIES and isinstance(v, float):
                value[k] = v + 1e-3
                count += 1
            elif k in golden.CANARIES and isinstance(v, list):
                value[k] = [x + 1e-3 if isinstance(x, float) else x for x in v]
                count += 1
            else:
                count += _move_canaries(v)
    elif isinstance(value, list):
        for v in value:
            count += _move_canaries(v)
    return count
