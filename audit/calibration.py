"""Calibration of a model's probabilities: expected calibration error and temperature fitting.

* :func:`expected_calibration_error`: ECE with equal-width confidence bins
  (Guo, Pleiss, Sun, Weinberger. On calibration of modern neural networks. ICML 2017):
  ``sum_m |B_m| / n * |acc(B_m) - conf(B_m)|`` where the confidence of a record is its
  largest probability, its prediction the argmax, and bin m holds confidences in
  ``(m / M, (m + 1) / M]`` (the first bin also holds 0).
* :func:`fit_temperature`: the T > 0 minimising the mean negative log-likelihood of
  ``softmax(logits / T)`` on validation data (Guo et al.'s temperature scaling).

Pure functions of arrays; inputs are never modified.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from .errors import InputError, NotApplicableError, bad_value
from .outputs import Outputs, log_softmax
from .signals import check_labels

DEFAULT_N_BINS = 15
TEMPERATURE_BOUNDS = (1e-2, 1e2)


def _probabilities(outputs_or_probs: Any) -> np.ndarray:
    if isinstance(outputs_or_probs, Outputs):
        if not outputs_or_probs.has_posteriors:
            raise NotApplicableError("calibration needs logits or probs; these outputs are label-only")
        return np.exp(outputs_or_probs.log_probs())
    p = np.asarray(outputs_or_probs)
    if p.ndim != 2 or p.shape[1] < 2:
        raise bad_value("probs", "a mia_audit.outputs.Outputs or an array of probabilities of shape (n, C), C >= 2",
                        f"shape {p.shape}")
    # Outputs validates (finite, >= 0, rows sum to 1) with the messages used everywhere else
    return Outputs("probs", p, p.shape[1]).values


def expected_calibration_error(outputs_or_probs: Any, labels: Any, n_bins: int = DEFAULT_N_BINS) -> float:
    """ECE of the predictions (equal-width confidence bins, Guo et al. 2017), in [0, 1].

    outputs_or_probs  an :class:`~mia_audit.outputs.Outputs` of kind logits or probs, or an
                      array of probabilities (n, C) whose rows sum to 1
    labels            true classes, shape (n,)
    n_bins            number of equal-width bins on [0, 1] (an integer >= 1)
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise bad_value("n_bins", "an integer >= 1", n_bins)
    p = _probabilities(outputs_or_probs)
    n = p.shape[0]
    if n == 0:
        raise InputError("expected_calibration_error needs at least one record; got 0")
    y = check_labels(labels, n, p.shape[1])
    confidence = p.max(axis=1)
    correct = (np.argmax(p, axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    # side="left": edges[m] < c <= edges[m + 1] lands in bin m; c = 0 in bin 0
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, int(n_bins) - 1)
    count = np.bincount(bins, minlength=n_bins).astype(np.float64)
    sum_conf = np.bincount(bins, weights=confidence, minlength=n_bins)
    sum_correct = np.bincount(bins, weights=correct, minlength=n_bins)
    # sum_m |B_m|/n * |acc_m - conf_m| = sum_m |sum_correct_m - sum_conf_m| / n
    return float(np.abs(sum_correct - sum_conf).sum() / n)


def _nll(logits: np.ndarray, y: np.ndarray, T: float) -> float:
    logp = log_softmax(logits / T)
    return float(-logp[np.arange(y.shape[0]), y].mean())


def fit_temperature(logits: Any, labels: Any, *, bounds: tuple[float, float] = TEMPERATURE_BOUNDS) -> float:
    """The temperature T minimising the mean NLL of ``softmax(logits / T)`` against ``labels``.

    logits  validation logits (n, C) (an array, or an Outputs of kind logits or probs:
            probs are used as logits log p, as :class:`~mia_audit.adapters.Temperature` does)
    labels  true classes of those records, shape (n,)
    bounds  the search interval for T (0 < low < high); the search runs over log T with
            scipy's bounded Brent method. An optimum at a bound means the data ask for a
            more extreme T (e.g. a validation set the model classifies perfectly wants T -> 0).

    Use records that are neither members nor the audit's non-members.
    """
    if isinstance(logits, Outputs):
        if not logits.has_posteriors:
            raise NotApplicableError("fitting a temperature needs logits or probs; these outputs are label-only")
        z = logits.log_probs()
    else:
        z = np.asarray(logits)
        if z.ndim != 2 or z.shape[1] < 2:
            raise bad_value("logits", "an array of shape (n, C), C >= 2", f"shape {z.shape}")
        z = Outputs("logits", z, z.shape[1]).values  # finite, float64
    if z.shape[0] == 0:
        raise InputError("fit_temperature needs at least one validation record; got 0")
    y = check_labels(labels, z.shape[0], z.shape[1])
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise bad_value("bounds", "two numbers 0 < low < high", bounds) from None
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
        raise bad_value("bounds", "two numbers 0 < low < high", bounds)
    result = minimize_scalar(
        lambda log_t: _nll(z, y, math.exp(log_t)),
        bounds=(math.log(low), math.log(high)),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(min(max(math.exp(result.x), low), high))


__all__ = ["expected_calibration_error", "fit_temperature", "DEFAULT_N_BINS", "TEMPERATURE_BOUNDS"]
