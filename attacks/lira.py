"""LiRA, the likelihood-ratio attack (Carlini, Chien, Nasr, Song, Terzis, Tramer 2022,
"Membership inference attacks from first principles", IEEE S&P 2022).

For each pool record and each query (augmentation) the attack fits Gaussians to the
logit-scaled confidences phi = log(p_y / (1 - p_y)) of the reference models that
trained on the record (IN) and of those that did not (OUT), then asks how much
likelier the target's observed phi is under IN than under OUT.

online (``lira-online``, the paper's Algorithm 1)
    score = mean over queries of  log N(phi; mu_in, sigma_in^2) - log N(phi; mu_out, sigma_out^2)
offline (``lira-offline``, section VI-C: OUT models only)
    the paper's one-sided test: Lambda = 1 - Pr[Z > phi] with Z ~ N(mu_out, sigma_out^2),
    i.e. the OUT Gaussian's CDF at phi; score = mean over queries of log Phi((phi - mu_out) / sigma_out)
    (the log keeps the ranking of records far in the tail, where Phi rounds to 1).
fixed variance (``fixed_variance=True``, section VI-B; better with few reference models)
    one pooled variance per query (and per IN / OUT) for all records instead of one per record.

Multiple queries are combined as in the reference code (``research/mi_lira_2021``,
plot.py): one Gaussian per record and query, the per-query log-likelihood ratios
averaged. Higher score = more likely a member (the reference code and TensorFlow
Privacy's ``compute_score_lira`` return the negation, members lower).

Departures from the reference code, on purpose:

* mu is the mean (as in the paper), not the median the code uses; sigma is the
  sample standard deviation with ddof = 1, floored at :data:`STD_FLOOR`;
* the pooled ("fixed") variance is the within-record variance,
  sum_i sum_k (phi_ik - mu_i)^2 / sum_i (n_i - 1), per query; the code's
  ``np.std(dat_in)`` over all records also counts the spread of the per-record
  means, and uses the IN spread for OUT as well;
* offline uses the paper's one-sided CDF, where the code scores with the OUT logpdf.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr

from mia_audit.checks import boolean
from mia_audit.errors import InputError

from .reference_base import ReferenceAttack
from .registry import ATTACKS

STD_FLOOR = 1e-3  # smallest standard deviation of phi used (phi is ~O(1..30); avoids division by 0)
_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


# ---------------------------------------------------------------------------- pure math


def gaussian_fit(values: np.ndarray, member: np.ndarray, *, fixed_variance: bool, side: str):
    """Per-record, per-query Gaussian of ``values`` (K, N, A) over the models where
    ``member`` (K, N) is True. Returns (mean (N, A), std (N, A) or (1, A) when fixed)."""
    w = member[:, :, None].astype(np.float64)
    count = w.sum(axis=0)  # (N, 1)
    need = 1 if fixed_variance else 2
    if np.any(count < need):
        i = int(np.argmin(count[:, 0]))
        raise InputError(
            f"mask must give every pool record at least {need} {side} reference model(s)"
            f"{'' if fixed_variance else ' for per-record variances (or use fixed_variance=True)'}; "
            f"record {i} has {int(count[i, 0])}"
        )
    mean = (values * w).sum(axis=0) / count
    squares = (((values - mean[None]) ** 2) * w).sum(axis=0)  # (N, A)
    if fixed_variance:
        dof = float((count - 1).sum())
        if dof <= 0:
            raise InputError(f"mask must give some record at least 2 {side} reference models to estimate a variance")
        std = np.sqrt(squares.sum(axis=0, keepdims=True) / dof)
    else:
        std = np.sqrt(squares / (count - 1))
    return mean, np.maximum(std, STD_FLOOR)


def normal_logpdf(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    z = (x - mean) / std
    return -0.5 * z * z - np.log(std) - _HALF_LOG_2PI


def online_scores(phi, mu_in, sd_in, mu_out, sd_out) -> np.ndarray:
    """Mean over queries of the IN / OUT log-likelihood ratio; all arrays (n, A) (or broadcastable)."""
    return (normal_logpdf(phi, mu_in, sd_in) - normal_logpdf(phi, mu_out, sd_out)).mean(axis=1)


def offline_scores(phi, mu_out, sd_out) -> np.ndarray:
    """Mean over queries of log Pr[Z <= phi], Z ~ N(mu_out, sd_out^2) (one-sided test)."""
    return log_ndtr((phi - mu_out) / sd_out).mean(axis=1)


# ---------------------------------------------------------------------------- attacks


class _Lira(ReferenceAttack):
    requires = ("logit_confidence",)
    reference = ("Carlini, Chien, Nasr, Song, Terzis, Tramer. Membership inference attacks from first principles. "
                 "IEEE S&P 2022.")

    #: each record has K / 2 IN and K / 2 OUT models (complementary pairs); a variance needs 2 of a side
    #: (per record), or some record with 2 (fixed): K = 2 gives neither
    min_reference_models = 4

    def __init__(self, fixed_variance: bool = False):
        self.fixed_variance = boolean("fixed_variance", fixed_variance)

    def _gather(self, stat: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return stat if stat.shape[0] == 1 else stat[idx]


@ATTACKS.register("lira-online", help="LiRA online: IN/OUT Gaussians per record from reference models (Carlini 2022)")
class LiraOnline(_Lira):
    """LiRA, online: per-record IN and OUT Gaussians of the logit-scaled confidence."""

    name = "lira-online"

    def _fit(self, lc, conf, mask):
        self.mu_in_, self.sd_in_ = gaussian_fit(lc, mask, fixed_variance=self.fixed_variance, side="IN")
        self.mu_out_, self.sd_out_ = gaussian_fit(lc, ~mask, fixed_variance=self.fixed_variance, side="OUT")

    def _score_target(self, lc, conf, idx, population):
        return online_scores(lc, self.mu_in_[idx], self._gather(self.sd_in_, idx),
                             self.mu_out_[idx], self._gather(self.sd_out_, idx))


@ATTACKS.register("lira-offline", help="LiRA offline: one-sided test against OUT reference models only (Carlini 2022)")
class LiraOffline(_Lira):
    """LiRA, offline: the OUT Gaussian's CDF at the target's logit-scaled confidence."""

    name = "lira-offline"

    def _fit(self, lc, conf, mask):
        self.mu_out_, self.sd_out_ = gaussian_fit(lc, ~mask, fixed_variance=self.fixed_variance, side="OUT")

    def _score_target(self, lc, conf, idx, population):
        return offline_scores(lc, self.mu_out_[idx], self._gather(self.sd_out_, idx))


__all__ = ["LiraOnline", "LiraOffline", "gaussian_fit", "online_scores", "offline_scores", "STD_FLOOR"]
