"""Auditing a differential-privacy claim with one training run (Steinke, Nasr & Jagielski 2023).

"Privacy auditing with one (1) training run" (NeurIPS 2023, arXiv:2305.08846).

The method
    ``m`` canaries are each included in the training set independently with probability 1/2
    (the inclusion bits are secret to the trainer's output). After one training run the
    auditor scores every canary (higher score = more likely included), guesses "in" for the
    ``k_plus`` highest scores, "out" for the ``k_minus`` lowest and abstains on the rest:
    ``r = k_plus + k_minus`` guesses, ``v`` of them correct.

The bound
    If training is epsilon-DP (add/remove one record), the number of correct guesses is
    stochastically dominated by Binomial(r, q) with q = e^eps / (1 + e^eps), the accuracy
    of epsilon-randomised response (the paper's main theorem, Theorem 3.1). With delta > 0
    the tail gains a term (the paper's (eps, delta) theorem, Section 5, as coded in its
    Appendix D, ``p_value_DP_audit``)::

        p(eps) = P[Binomial(r, q) >= v] + 2 m delta * max_{i = 1..v} P[v - i <= Binomial(r, q) < v] / i

    (capped at 1). ``p(eps)`` is the p-value of the observation under the null hypothesis
    "training is (eps, delta)-DP". :func:`epsilon_lower_bound` returns the largest eps with
    ``p(eps) < 1 - confidence``, found by bisection (the paper's ``get_eps_audit``,
    here to 1e-12 relative precision): at the stated confidence the run does **not** satisfy
    (eps, delta)-DP for any smaller eps. So it is a lower bound on the epsilon the training
    run really satisfies at that delta; a claimed epsilon (say, from the accountant) below it
    would be a broken claim (a bug in the training code or in its accounting). A bound far
    below the claim is not evidence that the claim is tight: one-run audits are loose,
    especially with black-box canaries.

Caveats
    * ``k_plus`` and ``k_minus`` must be fixed before looking at the guesses' correctness;
      taking the best of several (k_plus, k_minus) on the same run is optimistic and the
      stated confidence does not cover that maximum (use a Bonferroni-corrected confidence).
    * Ties among scores are broken by canary order (a stable sort), which must not depend on
      the inclusion bits.
    * The guarantee audited is the one of the canaries: each canary is a record whose
      presence is the "one record" of add/remove DP.

Core layer: numpy, scipy and the project's checks only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats
from scipy.special import expit

from .checks import fraction, is_int, nonnegative_int, positive_int, probability
from .errors import InputError, bad_value

#: the bisection stops when the bracket is narrower than this (relative to max(1, eps))
_TOLERANCE = 1e-12
#: no epsilon above this is searched (q = expit(eps) is 1.0 in float64 well before)
_EPS_CAP = 1000.0


def p_value(m: int, r: int, v: int, eps: float, delta: float) -> float:
    """P[>= v correct of r guesses] bounded under (eps, delta)-DP (the module docstring's p(eps)).

    No argument checks: :func:`epsilon_lower_bound` checks them once.
    """
    q = float(expit(eps))
    if v == 0:
        return 1.0
    tail = float(stats.binom.sf(v - 1, r, q))  # P[Binomial(r, q) >= v]
    if delta == 0.0:
        return min(tail, 1.0)
    # P[v - i <= Binomial(r, q) < v] for i = 1..v, each divided by i
    below = stats.binom.pmf(np.arange(v - 1, -1, -1), r, q)
    alpha = float(np.max(np.cumsum(below) / np.arange(1, v + 1)))
    return min(tail + 2.0 * m * delta * alpha, 1.0)


def _check_counts(m: Any, r: Any, v: Any) -> tuple[int, int, int]:
    m = positive_int("m", m)
    r = nonnegative_int("r", r)
    v = nonnegative_int("v", v)
    if r > m:
        raise bad_value("r", f"at most m = {m} (one guess per canary at most)", r)
    if v > r:
        raise bad_value("v", f"at most r = {r} (correct guesses are among the guesses)", v)
    return m, r, v


def epsilon_lower_bound(m: int, r: int, v: int, *, delta: float, confidence: float = 0.95) -> float:
    """The largest eps that ``v`` correct of ``r`` guesses on ``m`` canaries rejects at ``confidence``.

    ``m`` >= 1 canaries, ``r`` in [0, m] guesses, ``v`` in [0, r] correct; ``delta`` in [0, 1);
    ``confidence`` in (0, 1). Returns 0.0 when even eps = 0 is not rejected (p(0) >= 1 -
    confidence). See the module docstring for the p-value and what the bound means.
    """
    m, r, v = _check_counts(m, r, v)
    delta = probability("delta", delta, high_open=True)
    confidence = fraction("confidence", confidence)
    target = 1.0 - confidence
    if p_value(m, r, v, 0.0, delta) >= target:
        return 0.0
    low, high = 0.0, 1.0  # keep p(low) < target <= p(high)
    while p_value(m, r, v, high, delta) < target:
        low, high = high, 2.0 * high
        if high > _EPS_CAP:
            return float(low)  # practically unbounded: report the largest eps checked
    while high - low > _TOLERANCE * max(1.0, low):
        mid = 0.5 * (low + high)
        if p_value(m, r, v, mid, delta) < target:
            low = mid
        else:
            high = mid
    return float(low)


def _check_scores(scores: Any) -> np.ndarray:
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise bad_value("scores", "a 1-D array of finite numbers", type(scores).__name__) from None
    if arr.ndim != 1 or arr.size == 0:
        raise bad_value("scores", "a non-empty 1-D array of finite numbers", f"an array of shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise bad_value("scores", "a 1-D array of finite numbers",
                        f"{int(np.sum(~np.isfinite(arr)))} non-finite values")
    return arr


def _check_included(included: Any, m: int) -> np.ndarray:
    arr = np.asarray(included)
    if arr.ndim != 1 or arr.shape[0] != m:
        raise bad_value("included", f"a 1-D array of {m} inclusion bits (one per score)",
                        f"an array of shape {arr.shape}")
    if arr.dtype == np.bool_:
        return arr.astype(bool)
    if arr.dtype.kind in "iu" and np.all((arr == 0) | (arr == 1)):
        return arr.astype(bool)
    raise bad_value("included", "inclusion bits (bools, or ints 0 and 1)", f"an array of dtype {arr.dtype}")


def one_run_audit(scores: Any, included: Any, *, k_plus: int, k_minus: int, delta: float,
                  confidence: float = 0.95) -> dict[str, Any]:
    """Guess "in" for the ``k_plus`` highest ``scores``, "out" for the ``k_minus`` lowest, and bound eps.

    ``scores``: one finite score per canary, shape (m,), higher = more likely included;
    ``included``: the true inclusion bits, shape (m,) (bools or 0/1 ints); ``k_plus``,
    ``k_minus`` >= 0 with ``k_plus + k_minus`` <= m; ``delta`` in [0, 1); ``confidence`` in (0, 1).

    Returns a JSON-ready dict: ``m``, ``k_plus``, ``k_minus``, ``guesses`` (r = k_plus +
    k_minus), ``correct`` (v), ``correct_in`` and ``correct_out`` (v split by kind of guess),
    ``epsilon_lower_bound``, ``delta``, ``confidence``.
    """
    arr = _check_scores(scores)
    m = int(arr.size)
    bits = _check_included(included, m)
    for name, value in (("k_plus", k_plus), ("k_minus", k_minus)):
        if not is_int(value) or value < 0:
            raise bad_value(name, "an integer >= 0", value)
    k_plus, k_minus = int(k_plus), int(k_minus)
    if k_plus + k_minus > m:
        raise InputError(f"k_plus + k_minus must be at most the number of canaries m = {m}; "
                         f"got {k_plus} + {k_minus} = {k_plus + k_minus}")
    if k_plus + k_minus == 0:
        raise InputError("k_plus + k_minus must be at least 1 (an audit needs guesses); got 0 + 0")
    delta = probability("delta", delta, high_open=True)
    confidence = fraction("confidence", confidence)
    order = np.argsort(-arr, kind="stable")  # highest score first; ties in canary order
    guessed_in = order[:k_plus]
    guessed_out = order[m - k_minus:] if k_minus else order[:0]
    correct_in = int(np.sum(bits[guessed_in]))
    correct_out = int(np.sum(~bits[guessed_out]))
    r, v = k_plus + k_minus, correct_in + correct_out
    bound = epsilon_lower_bound(m, r, v, delta=delta, confidence=confidence)
    return {
        "m": m,
        "k_plus": k_plus,
        "k_minus": k_minus,
        "guesses": r,
        "correct": v,
        "correct_in": correct_in,
        "correct_out": correct_out,
        "epsilon_lower_bound": bound,
        "delta": delta,
        "confidence": confidence,
    }


__all__ = ["epsilon_lower_bound", "one_run_audit", "p_value"]
