"""How many intra-op threads torch uses: the thread policy of the toolkit.

Why: torch starts one intra-op (OpenMP) thread per core. A small model's ops (a
128 x 256 x 256 matrix product, an Adam update of a few thousand weights) are far too
small to split, yet each one becomes a parallel region whose threads spin at a barrier.
Idle, that gains nothing; beside other busy processes it makes small-model training
and auditing several times slower, at times 10-50x (a descheduled thread stalls every
op). One thread is then as fast idle and fair under load.

The rule (:func:`choose_threads`), applied by :func:`training_threads` around every
training loop (``train_model``, the gradient unlearners, DP-SGD, the batched reference
models of an audit) and by ``run_audit`` to the whole audit, chosen from the audit's
model (:func:`set_audit_threads`: predictions, attacks and mitigations too; on a busy
2-core machine they were 2-3x slower on 2 threads), the caller's count restored after:

1. a count the user chose wins, and nothing is changed:

   * ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` set in the environment (torch reads them
     at start-up), or ``mia-audit --threads N``;
   * an enclosing :func:`use_threads` block (what ``--threads`` uses; use it from Python
     to pin a count for a block);
   * a ``torch.set_num_threads(n)`` call made before, seen as a count other than torch's
     start-up default (one thread per physical core). A count *equal* to that default
     cannot be told apart from it: pin it with ``use_threads`` or the environment;

2. otherwise the count follows the work of one optimiser step: one thread per
   :data:`MACS_PER_THREAD` multiply-accumulates of the forward pass over one training
   batch (:func:`batch_macs`, times the models trained in lock-step), at least 1 and at
   most torch's default. So every model below ``2 * MACS_PER_THREAD`` (512 M) per batch
   trains on **one** thread: the demo's MLPs (4-12 M), the digits CNN (6 M), 8 or 16
   batched reference MLPs (31 M, 193 M); a ResNet-18 on CIFAR batches of 512 (~290 G)
   keeps the default;

3. only CPU training is touched (on a GPU the intra-op threads do not do the work).

The choice depends on the architecture, the input shape and the batch size (and, above
the threshold, the machine's core count) only, never on the machine's load, so the same
seed gives the same numbers however busy the machine is (checked: the quick demo idle
and beside busy processes gives identical result JSON figures and model hashes). The
thread count itself can change float reductions: the demo's MLPs train bitwise
identically on 1 and 2 threads, but the digits CNN and a 1024-1024 MLP (up to 8e-7)
do not, so ``--threads N`` (or ``OMP_NUM_THREADS``) may change figures in the last
digits.

Why this threshold (``benchmarks/threads.py --sweep``, 2-core Xeon, torch 2.13): on an
idle machine a second thread gains nothing below ~12 M multiply-accumulates per batch and
1.3-1.8x above ~30 M; beside two busy processes it never gains and often loses, by
1.3-3x and at times 17-50x (a descheduled thread stalls every op). The gain is bounded
by the core count, the loss is not, so one thread up to 512 M per batch; above that
the ops are large enough that one thread per 256 M keeps most of the idle gain.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
from typing import Any, Callable, Iterator, Optional, TypeVar

from .errors import bad_value

#: forward-pass multiply-accumulates of one training batch per intra-op thread
MACS_PER_THREAD = 256_000_000
#: below this many multiply-accumulates per batch, training uses one thread
SMALL_BATCH_MACS = 2 * MACS_PER_THREAD
#: environment variables that set torch's thread count at start-up
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: the largest --threads value accepted
MAX_THREADS = 1024

_pinned = 0  # depth of enclosing use_threads blocks (an explicit choice)
_auto: list[tuple[int, int]] = []  # the policy's own changes: (count before, count set), outermost first
F = TypeVar("F", bound=Callable[..., Any])


def choose_threads(macs_per_batch: Optional[int], *, default: int, explicit: Optional[int] = None) -> int:
    """The intra-op thread count for a training loop (pure: no torch, no machine state).

    ``macs_per_batch``: :func:`batch_macs` of the model (None: unknown, keep ``default``);
    ``default``: torch's count (before any change of the policy's); ``explicit``: a count
    the user chose (wins).
    Returns ``macs_per_batch // MACS_PER_THREAD`` clipped to [1, default].
    """
    if explicit is not None:
        return int(explicit)
    if macs_per_batch is None:
        return int(default)
    return int(max(1, min(int(default), int(macs_per_batch) // MACS_PER_THREAD)))


def physical_cores() -> int:
    """The number of physical cores (torch's default thread count); logical CPUs where the
    topology is not readable."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            cores, physical = set(), "0"
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "physical id":
                    physical = value.strip()
                elif key == "core id":
                    cores.add((physical, value.strip()))
        if cores:
            return len(cores)
    except OSError:
        pass
    return os.cpu_count() or 1


def explicit_threads() -> Optional[int]:
    """The count the user chose (environment, :func:`use_threads`, or a
    ``torch.set_num_threads`` call away from the default), or None."""
    import torch

    current = torch.get_num_threads()
    if _pinned or any(os.environ.get(name, "").strip() for name in THREAD_ENV_VARS):
        return current
    if _auto:  # inside a change of the policy's own: explicit only if someone changed it since
        return None if current == _auto[-1][1] else current
    if current != physical_cores():
        return current
    return None


def _base_threads() -> int:
    """torch's count before the policy changed it (the ``default`` of :func:`choose_threads`)."""
    import torch

    return _auto[0][0] if _auto else torch.get_num_threads()


@contextlib.contextmanager
def use_threads(n: Optional[int]) -> Iterator[None]:
    """Run a block with ``n`` torch intra-op threads, restoring the caller's count after.

    Inside the block the count counts as the user's choice (the training loops leave it
    alone). ``n=None`` changes nothing (and pins nothing).
    """
    global _pinned
    if n is None:
        yield
        return
    import torch

    n = int(n)
    if n < 1:
        raise bad_value("threads", "an integer >= 1", n)
    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(n)
    _pinned += 1
    try:
        yield
    finally:
        _pinned -= 1
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def batch_macs(net: Any, sample: Any, batch_size: int) -> Optional[int]:
    """Forward-pass multiply-accumulates of ``net`` over one batch of ``batch_size`` records.

    Counted on one record of ``sample`` (a tensor (n, ...) on the model's device, n >= 1)
    with forward hooks: every module with weights of its own adds its weight count times
    the positions it is applied at (1 for a linear layer, the output's spatial positions
    for a convolution, the time steps for a recurrent layer). The model runs once in eval
    mode under ``no_grad`` (its mode is restored; no state, no RNG touched). None when
    the count fails.
    """
    import torch

    total = 0

    def hook(module, inputs, output):
        nonlocal total
        out = output[0] if isinstance(output, (tuple, list)) else output
        if not isinstance(out, torch.Tensor) or out.dim() < 1:
            return
        weights = sum(p.numel() for p in module.parameters(recurse=False))
        if isinstance(module, torch.nn.modules.conv._ConvNd) and out.dim() >= 3:
            positions = out[0, 0].numel()
        else:
            positions = out[0].numel() // max(int(out.shape[-1]), 1) if out.dim() >= 2 else 1
        total += weights * max(positions, 1)

    handles = [m.register_forward_hook(hook) for m in net.modules()
               if next(m.parameters(recurse=False), None) is not None]
    training = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(sample[:1])
    except (RuntimeError, TypeError, ValueError):  # a model that cannot run one record (a shape error)
        return None                                 # keeps the default count; bugs elsewhere surface
    finally:
        for h in handles:
            h.remove()
        net.train(training)
    return int(total) * int(batch_size)


def training_threads(net: Any, sample: Any, batch_size: int, *, device: Any = None,
                     models: int = 1) -> contextlib.AbstractContextManager:
    """The policy as a context for one training loop of ``net`` (see the module docstring).

    ``models``: how many copies train in lock-step (batched reference models), which
    multiplies the work of each op. ``sample`` None (no records) changes nothing.
    """
    if sample is None or next(net.parameters(), None) is None:
        return contextlib.nullcontext()
    count = _policy_count(net, sample, batch_size, device=device, models=models)
    if count is None:
        return contextlib.nullcontext()
    return _set_for_block(count)


def _policy_count(net: Any, sample: Any, batch_size: int, *, device: Any, models: int) -> Optional[int]:
    """The count the policy sets for ``net``, or None to change nothing."""
    import torch

    if device is None:
        device = next(net.parameters()).device
    if torch.device(device).type != "cpu" or explicit_threads() is not None:
        return None
    macs = batch_macs(net, sample, batch_size)
    count = choose_threads(None if macs is None else macs * max(int(models), 1), default=_base_threads())
    return None if count == torch.get_num_threads() else count


@contextlib.contextmanager
def _set_for_block(n: int) -> Iterator[None]:
    import torch

    mark = len(_auto)
    _auto.append((torch.get_num_threads(), n))
    torch.set_num_threads(n)
    try:
        yield
    finally:
        _restore_to(mark)


def _restore_to(mark: int) -> None:
    import torch

    while len(_auto) > mark:
        before, _ = _auto.pop()
        torch.set_num_threads(before)


def audit_threads(func: F) -> F:
    """Decorator of a whole audit (``run_audit``): a count :func:`set_audit_threads` sets
    inside the call holds until the call ends, and the caller's count is restored then."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        mark = len(_auto)
        try:
            return func(*args, **kwargs)
        finally:
            _restore_to(mark)

    return wrapper  # type: ignore[return-value]


def set_audit_threads(model: Any, X: Any, batch_size: Optional[int], *, device: Any) -> None:
    """The policy for the rest of an audit (inside :func:`audit_threads`), chosen from the
    audit's model: its predictions, attacks and mitigations then run on the same count as
    its training (measured: on a busy 2-core machine they too are 2-3x slower on 2
    threads). ``X``: records (numpy or torch) of the model's input; non-torch models
    (XGBoost) and GPU audits change nothing."""
    torch = sys.modules.get("torch")
    if torch is None or batch_size is None or not isinstance(model, torch.nn.Module):
        return
    if next(model.parameters(), None) is None or torch.device(device).type != "cpu":
        return
    dtype = next(model.parameters()).dtype
    from .frameworks import to_tensor

    sample = to_tensor(X[:1], copy=True)
    sample = sample.to(dtype=dtype) if sample.is_floating_point() else sample
    count = _policy_count(model, sample, batch_size, device=device, models=1)
    if count is not None:
        _auto.append((torch.get_num_threads(), count))
        torch.set_num_threads(count)


# ---------------------------------------------------------------------------- command line


def threads_arg(text: str) -> int:
    """argparse type of ``--threads``: an integer from 1 to :data:`MAX_THREADS`."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 1 <= value <= MAX_THREADS:
        raise argparse.ArgumentTypeError(f"must be an integer from 1 to {MAX_THREADS}; got {text!r}")
    return value


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--threads N`` (default None: the policy above)."""
    parser.add_argument("--threads", type=threads_arg, default=None, metavar="N",
                        help="torch intra-op threads for the whole run (default: 1 for small models, "
                             "torch's default for large ones; OMP_NUM_THREADS is respected)")


__all__ = ["choose_threads", "explicit_threads", "use_threads", "batch_macs", "training_threads",
           "audit_threads", "set_audit_threads",
           "threads_arg", "add_threads_argument", "physical_cores", "MACS_PER_THREAD", "SMALL_BATCH_MACS"]
