"""Speed of the metrics core, as ratios within one run.

    python benchmarks/metrics.py [--n 1000000] [--repeats 3]

Times (best of ``--repeats``, ``time.perf_counter``) on ``--n`` member and ``--n``
non-member scores:

* ours: AUC + TPR at 0.1 %, 1 %, 10 % FPR + advantage, from one sort;
* scikit-learn: ``roc_auc_score`` + ``roc_curve`` (TPR@FPR and advantage from it);
* TensorFlow Privacy's threshold attack, when ``tensorflow_privacy`` imports (see
  the tensorflow-privacy section of DEPENDENCIES.md; it needs no TensorFlow);
* bootstrap intervals: ours (weighted counts over the one sort) against re-sorting
  every resample, per resample;
* our epsilon lower bound (Clopper-Pearson at every threshold).

It also prints the AUC and advantage of each tool so that agreement can be seen.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np

from mia_audit.metrics import (DEFAULT_FPRS, ScoreRanking, advantage_from_roc, auc_and_tpr_at_fpr_from_counts,
                           auc_from_counts, roc_from_counts, tpr_at_fpr_from_roc)
from mia_audit.metrics.bootstrap import bootstrap_replicates
from mia_audit.metrics.bounds import epsilon_lower_bound
from mia_audit.seeding import rng


def best_of(repeats, fn):
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def ours(m, n):
    r = ScoreRanking(m, n)
    fpr, tpr = roc_from_counts(r.member_counts, r.nonmember_counts)
    return (auc_from_counts(r.member_counts, r.nonmember_counts), tpr_at_fpr_from_roc(fpr, tpr, DEFAULT_FPRS),
            advantage_from_roc(fpr, tpr))


def with_sklearn(m, n):
    from sklearn.metrics import roc_auc_score, roc_curve

    y, s = np.r_[np.ones(m.size), np.zeros(n.size)], np.r_[m, n]
    value = roc_auc_score(y, s)
    fpr, tpr, _ = roc_curve(y, s)
    return value, np.array([tpr[fpr <= f].max() for f in DEFAULT_FPRS]), float(np.max(tpr - fpr))


def tf_privacy_attack():
    """TF Privacy's threshold attack as a function of (member, non-member) scores, or a note why not."""
    sys.skip_tf_privacy_import = True  # its membership-inference module needs no TensorFlow
    try:
        from tensorflow_privacy.privacy.privacy_tests.membership_inference_attack import data_structures as ds
        from tensorflow_privacy.privacy.privacy_tests.membership_inference_attack import \
            membership_inference_attack as mia
    except Exception as exc:  # noqa: BLE001 - any import failure means "skip"
        return None, f"{type(exc).__name__}: {exc}"

    def run(m, n):
        # Its threshold attack calls LOW loss a member: feed it -score.
        data = ds.AttackInputData(loss_train=-m, loss_test=-n)
        with warnings.catch_warnings():  # its Bailey epsilon bound warns on 0 / 0
            warnings.simplefilter("ignore", RuntimeWarning)
            results = mia.run_attacks(data, ds.SlicingSpec(entire_dataset=True),
                                      attack_types=[ds.AttackType.THRESHOLD_ATTACK])
        single = results.get_result_with_max_auc()
        return float(single.get_auc()), float(single.get_attacker_advantage())

    return run, None


def tf_privacy_clopper_pearson(m, n, confidence):
    """TF Privacy's Clopper-Pearson epsilon bound (one-directional, TPR/FPR and TNR/FNR), or None."""
    try:
        from tensorflow_privacy.privacy.privacy_tests import epsilon_lower_bound as elb
    except Exception:  # noqa: BLE001
        return None
    # Its alpha is two-sided: alpha / 2 per bound, i.e. our confidence = 1 - alpha / 2.
    bounds = elb.EpsilonLowerBound(m, n, alpha=2 * (1 - confidence), two_sided_threshold=False)
    top = bounds.compute_epsilon_lower_bound(elb.BoundMethod.CLOPPER_PEARSON, k=1)
    return max(0.0, float(top[0])) if top.size else 0.0


def naive_bootstrap(m, n, resamples, seed):
    """Re-sort every resample (the approach the one-sort method avoids)."""
    gen = rng(seed, "naive-bootstrap")
    out = []
    for _ in range(resamples):
        rm, rn = m[gen.integers(0, m.size, m.size)], n[gen.integers(0, n.size, n.size)]
        r = ScoreRanking(rm, rn)
        out.append(auc_and_tpr_at_fpr_from_counts(r.member_counts, r.nonmember_counts, DEFAULT_FPRS))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000, help="members and also non-members (default 1e6)")
    p.add_argument("--repeats", type=int, default=3, help="best of this many runs (default 3)")
    p.add_argument("--resamples", type=int, default=200, help="bootstrap resamples, one-sort method")
    p.add_argument("--naive-resamples", type=int, default=5, help="bootstrap resamples, re-sort method")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    gen = rng(a.seed, "benchmark-scores")
    members = gen.normal(0.3, 1.0, a.n)  # a weak attack: AUC about 0.58
    nonmembers = gen.normal(0.0, 1.0, a.n)
    print(f"metrics benchmark: {a.n:,} members + {a.n:,} non-members, best of {a.repeats}; "
          f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs")

    rows = []
    t_ours, (auc_o, tpr_o, adv_o) = best_of(a.repeats, lambda: ours(members, nonmembers))
    rows.append(("ours: AUC + TPR@3 FPRs + advantage (one sort)", t_ours, ""))

    import sklearn
    t_sk, (auc_s, tpr_s, adv_s) = best_of(a.repeats, lambda: with_sklearn(members, nonmembers))
    rows.append((f"scikit-learn {sklearn.__version__} roc_auc_score + roc_curve", t_sk,
                 f"ours {t_sk / t_ours:.1f}x faster"))
    parity = [f"AUC        ours {auc_o:.15f}   sklearn {auc_s:.15f}",
              f"TPR@FPR    ours {np.round(tpr_o, 6).tolist()}   sklearn {np.round(tpr_s, 6).tolist()}",
              f"advantage  ours {adv_o:.15f}   sklearn {adv_s:.15f}"]

    run_tfp, why = tf_privacy_attack()
    if run_tfp is None:
        notes = [f"TF Privacy threshold attack skipped: tensorflow_privacy does not import ({why})"]
    else:
        t_tfp, (auc_t, adv_t) = best_of(a.repeats, lambda: run_tfp(members, nonmembers))
        rows.append(("TF Privacy 0.8.12 threshold attack", t_tfp, f"ours {t_tfp / t_ours:.1f}x faster"))
        parity.append(f"AUC        ours {auc_o:.15f}   TF Privacy {auc_t:.15f}   diff {abs(auc_o - auc_t):.1e}")
        parity.append(f"advantage  ours {adv_o:.15f}   TF Privacy {adv_t:.15f}")
        notes = []

    t_eps, eps = best_of(a.repeats, lambda: epsilon_lower_bound(members, nonmembers))
    rows.append(("ours: epsilon lower bound (CP, all thresholds, incl. sort)", t_eps, ""))
    parity.append(f"epsilon lower bound (95 % per bound): {eps:.6f}")
    small = min(a.n, 20_000)
    eps_small = epsilon_lower_bound(members[:small], nonmembers[:small])
    eps_tfp = tf_privacy_clopper_pearson(members[:small], nonmembers[:small], 0.95)
    if eps_tfp is not None:
        parity.append(f"epsilon on {small:,}+{small:,}: ours {eps_small:.12f}   TF Privacy CP {eps_tfp:.12f}")

    ranking = ScoreRanking(members, nonmembers)
    ranking.member_group, ranking.nonmember_group  # built once, on first use  # noqa: B018
    t_boot, _ = best_of(a.repeats, lambda: bootstrap_replicates(ranking, n_resamples=a.resamples, seed=a.seed))
    t_naive, _ = best_of(a.repeats, lambda: naive_bootstrap(members, nonmembers, a.naive_resamples, a.seed))
    per_boot, per_naive = t_boot / a.resamples, t_naive / a.naive_resamples
    rows.append((f"bootstrap one sort: {a.resamples} resamples, total", t_boot, ""))
    rows.append(("bootstrap one sort: per resample", per_boot, ""))
    rows.append((f"bootstrap re-sort ({a.naive_resamples} resamples): per resample", per_naive,
                 f"one sort {per_naive / per_boot:.1f}x faster"))

    width = max(len(r[0]) for r in rows)
    print(f"\n{'task':<{width}}  {'seconds':>9}  ratio")
    for name, sec, ratio in rows:
        print(f"{name:<{width}}  {sec:9.4f}  {ratio}")
    print()
    for line in parity + notes:
        print(line)


if __name__ == "__main__":
    main()
