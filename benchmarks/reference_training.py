"""Batched (torch.func) vs sequential (train_model loop) training of K reference models,
and the batched trainer's share of the machine's matrix-product peak.

Both trainers get the same K initial models, the same training halves (the reference
mask) and the same seeds, so they train the same models (to rounding); the script
prints the seconds of each, their ratio, the mean / SD test accuracy of both sets and
the largest weight difference between matching models. Then the work: the FLOPs of one
model's forward + backward pass per record (``torch.utils.flop_counter.FlopCounterMode``
on one training batch: matrix products and convolutions) times the records each model
trains on, the epochs and K, over the batched trainer's measured seconds, next to the
same run's matrix-product peak on the trainer's thread count (the best of several runs
before and after the trainers: a ``torch.mm`` of 4096 x 4096 and a ``torch.bmm`` of the
trainer's own largest linear layer, (K, batch, in) x (K, in, out), into a preallocated
output), and the share of each (for convolutional nets compare with the mm peak).

    python benchmarks/reference_training.py                      # Adult, 64 MLPs, CPU
    python benchmarks/reference_training.py --threads 1          # both on one torch thread
    python benchmarks/reference_training.py --repeats 3          # best of 3 runs of each trainer
    python benchmarks/reference_training.py --models 8,16,64     # a sweep over K
    python benchmarks/reference_training.py --workers 2          # also: 2 processes x 1 thread, K/2 models each
    python benchmarks/reference_training.py --device cuda --models 16,64,256,1024 --sequential-max 64
    python benchmarks/reference_training.py --dataset cifar10 --model resnet18 --width 16 --device cuda \\
        --pool 10000 --models 8,32

Settings (defaults): Adult, a pool of 8,000 records (each model trains on 4,000),
64 models, the default ``mlp`` (hidden 256-256) with ``recipe_for("mlp", "tabular")``
but 3 epochs instead of 30 (``--epochs``) to keep the sequential run to minutes;
test accuracy on 4,000 records outside the pool. Timings include moving data to the
device and are taken after a warm-up of both trainers; CUDA is synchronised before a
clock stops (train_model and train_batched both synchronise; the peak measurements too).
Threads: both trainers follow :mod:`mia_audit.threads` (the batched one with the work of
all K models), unless ``--threads`` pins a count; the peaks are measured on the
batched trainer's count. The machine is shared: compare ratios within one run, and
rerun with ``--repeats``.

Many models per GPU: ``--models`` takes a comma-separated list, one row per K (torch.func
vs sequential). On a GPU the batched step's width is what batching buys, so sweep K up
to the memory limit (e.g. 16, 64, 256, 1024 Adult MLPs); ``--sequential-max M`` times
the sequential loop on the first M models only and scales its seconds to K (one model
after the other, its time is linear in K).

Measured on the 2-core development machine (Xeon with AVX-512, KVM, torch 2.13 CPU),
64 Adult MLPs 256-256, 3 epochs, shared with other engineers' jobs (load 2-4), each pair
run back to back; "before" is the trainer before BatchNorm support (per-model row
gathering, for-loop Adam, a transposing copy of every weight gradient, no thread policy)::

    --threads 1            batched   sequential   ratio   GFLOP/s   bmm peak   share
    before                  7.58 s      9.85 s    1.30x     49.3      159.2     31 %
    after                   5.45 s     11.06 s    2.03x     68.6      158.1     43 %
    no --threads, a quieter moment: batched on 2 threads (the policy's count for 64 MLPs;
    torch's default before), sequential on 1 (the policy)
    before                  4.27 s     10.76 s    2.52x     87.4      319.7     27 %
    after                   3.01 s      9.69 s    3.22x    124.2      334.1     37 %

The step's own kernels, each timed alone at the trainer's shapes (``step_kernels``: the
forward products with their bias, ReLU and its backward mask, the weight- and input-gradient
products, the bias sums, the loss, one fused Adam step), printed as "one step". On one thread,
on a quiet machine: 29.5 ms against the trainer's 39.5 ms per step, i.e. 135 GFLOP/s, 62 % of
that run's bmm peak of 217 GFLOP/s, where the trainer reaches 101 GFLOP/s (47 %); the products
take 22.1 ms (weight gradients 8.1, forward 7.9, input gradients 6.2: the backward shapes run
below the forward shape's peak), fused Adam 3.5 ms, ReLU and its mask 2.9 ms. Beside other work
(load 2): 45.4 ms against 67.6 ms, 68 % and 46 % of a bmm peak of 129 GFLOP/s. So about 60 % of
the peak is the most a step of these kernels can give even with no cost between them; the
trainer's remaining quarter to third is allocation, dispatch and operands that left the cache
between kernels.

On another machine (2026-12-02: an AMD EPYC, 2 cores, AVX-512, quiet), the same run: on one thread,
best of 2, batched 6.38 s against sequential 8.30 s (1.30x), 58.6 GFLOP/s, **68 % of a bmm peak of
86.0 GFLOP/s** (62 % of the mm peak of 94.9), its kernels alone 56.9 ms against the trainer's 68.0 ms
per step (81 % of the peak); on the policy's 2 threads, 4.29 s against 8.31 s (1.94x), 53 % of a bmm
peak of 164.5 GFLOP/s (48 % of mm), kernels alone 76 %. The EPYC's products are slower than the Xeon's
(86 against 217 GFLOP/s on one thread) while its memory traffic is not, so the same step gives a larger
share there: the share depends on the machine, and the one-thread figure meets 60 % on the EPYC only.
A custom autograd function for the narrow output layer (256 -> 2: its weight gradient as g^T x, (K, 2, 256),
instead of x^T g, (K, 256, 2), which MKL runs at 5 GFLOP/s) saved 2.1 of that layer's 5.4 ms per step
on the EPYC, about 3 % of a step: not done.

The same EPYC type in a later session (2026-12-02, quiet, best of 3): on the policy's 2 threads, batched
3.30 s against sequential 6.84 s (2.07x), 113.2 GFLOP/s, **62 % of a bmm peak of 182.6 GFLOP/s** (56 % of
the mm peak of 201.6), kernels alone 81 %; on one thread (best of 2) 6.05 s against 7.50 s (1.24x),
**69 %** of 89.9 GFLOP/s (62 % of mm). The earlier session's 53 % on 2 threads had run beside the airnet
benchmark. ``--workers 2`` (2 loky processes of one thread, 32 batched models each, the same models
bitwise) took 3.34 s, 61 %: no faster than one process on 2 threads here, plus 2.6 s to start the
processes, so the in-process trainer stays the default.

What is left is memory traffic, not the vmap path: a step moves ~0.4 GB (fused Adam
reads and writes 7 x 23 MB of stacked weights and states; each (64, 128, 256)
activation is 8 MB), against 4 GFLOP of products; a hand-written step (preallocated
outputs, bias fused with ``baddbmm``, in-place ReLU, the same fused Adam) was no faster
(56 vs 52 ms per step on one thread). Beside busy processes two threads are several
times slower for both trainers (e.g. 26.7 s / 14.4 s batched before / after): the
thread policy of :mod:`mia_audit.threads` in action.
"""

from __future__ import annotations

import argparse
import copy
import time
from typing import Optional

import numpy as np


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="adult", choices=["adult", "digits", "cifar10"])
    p.add_argument("--model", default="mlp", choices=["mlp", "cnn", "resnet18"])
    p.add_argument("--width", type=int, default=None, help="resnet18 width (default 64)")
    p.add_argument("--models", default="64", help="K reference models (even), or a comma-separated sweep")
    p.add_argument("--pool", type=int, default=8000, help="pool records (each model trains on half)")
    p.add_argument("--test", type=int, default=4000, help="test records outside the pool")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the toolkit's policy)")
    p.add_argument("--repeats", type=int, default=1, help="runs of each trainer; the fastest is kept")
    p.add_argument("--sequential-max", type=int, default=None,
                   help="time the sequential loop on at most this many models and scale to K")
    p.add_argument("--workers", type=int, default=None,
                   help="also train the K models as N worker processes of one thread, K / N batched models each")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


# ---------------------------------------------------------------------------- work and peak


def flops_per_record(model, X, y, batch_size: int) -> float:
    """Forward + backward FLOPs of one model per training record (FlopCounterMode on one batch)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    net = copy.deepcopy(model).to("cpu").train()
    xb = torch.as_tensor(X[:batch_size], dtype=torch.float32)
    yb = torch.as_tensor(y[:batch_size], dtype=torch.int64)
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(net(xb), yb).backward()
    return counter.get_total_flops() / len(xb)


def best_seconds(fn, device, repeats: int = 5) -> float:
    from mia_audit.device import synchronize

    fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_peaks(model, K: int, batch_size: int, device) -> dict[str, tuple[str, float]]:
    """GFLOP/s of a 4096^2 ``torch.mm`` and of a ``torch.bmm`` of the largest linear layer's
    batched shape, (K, batch, in) x (K, in, out), both into preallocated outputs."""
    import torch

    gen = torch.Generator(device="cpu").manual_seed(0)
    peaks = {}
    n = 4096
    a, b = (torch.randn(n, n, generator=gen).to(device) for _ in range(2))
    out = torch.empty(n, n, device=device)
    peaks["mm"] = (f"mm {n}x{n}", 2 * n ** 3 / best_seconds(lambda: torch.mm(a, b, out=out), device, 3) / 1e9)
    a = b = out = None  # free the 4096^2 operands
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if linears:
        layer = max(linears, key=lambda m: m.in_features * m.out_features)
        i, o = layer.in_features, layer.out_features
        x = torch.randn(K, batch_size, i, generator=gen).to(device)
        w = torch.randn(K, i, o, generator=gen).to(device)
        out = torch.empty(K, batch_size, o, device=device)
        flops = 2 * K * batch_size * i * o
        peaks["bmm"] = (f"bmm ({K},{batch_size},{i})x({K},{i},{o})",
                        flops / best_seconds(lambda: torch.bmm(x, w, out=out), device, 20) / 1e9)
    return peaks


def step_kernels(model, K: int, batch_size: int, device) -> Optional[dict[str, float]]:
    """Seconds of each kernel of one batched training step, timed alone (best of several runs) at
    the trainer's shapes, for a chain of Linear layers with ReLU between them (the ``mlp``); None
    for other models. Per layer: the forward product with its bias (``baddbmm``), the ReLU and
    its backward mask, the weight-gradient and input-gradient products, the bias-gradient sum;
    then the loss and its gradient and one fused Adam step over the stacked weights. Their sum
    is what the step would take with no other cost (no allocation, dispatch or cache misses
    between kernels): the ceiling of this way of training, in the same run as the peaks."""
    import torch
    from torch import nn

    layers = list(model.modules())[1:]
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    others = [m for m in layers if not isinstance(m, (nn.Linear, nn.ReLU, nn.Sequential, nn.Identity))
              and not (isinstance(m, nn.Dropout) and m.p == 0)]
    if not linears or others:
        return None
    gen = torch.Generator(device="cpu").manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=gen).to(device)

    times: dict[str, float] = {}

    def add(key: str, fn) -> None:
        times[key] = times.get(key, 0.0) + best_seconds(fn, device, 10)

    B = batch_size
    h = rand(K, B, linears[0].in_features)
    inputs, params = [], []
    for i, lin in enumerate(linears):
        W, b = rand(K, lin.in_features, lin.out_features), rand(K, 1, lin.out_features)
        params += [W, b]
        inputs.append(h)
        out = torch.empty(K, B, lin.out_features, device=device)
        add("forward products", lambda h=h, W=W, b=b, out=out: torch.baddbmm(b, h, W, out=out))
        h = torch.baddbmm(b, h, W)
        if i < len(linears) - 1:
            add("ReLU", lambda h=h: torch.relu(h))
            h = torch.relu(h)
    logits = h.detach().reshape(K * B, -1).requires_grad_()
    labels = torch.randint(0, logits.shape[1], (K * B,), generator=gen).to(device)
    add("loss and its gradient",
        lambda: torch.autograd.grad(nn.functional.cross_entropy(logits, labels, reduction="sum"), logits))
    g = rand(K, B, linears[-1].out_features)
    for i in range(len(linears) - 1, -1, -1):
        W, x = params[2 * i], inputs[i]
        add("weight-gradient products", lambda x=x, g=g: torch.bmm(x.transpose(1, 2), g))
        add("bias-gradient sums", lambda g=g: g.sum(1, keepdim=True))
        if i > 0:
            add("input-gradient products", lambda g=g, W=W: torch.bmm(g, W.transpose(1, 2)))
            g = torch.bmm(g, W.transpose(1, 2))
            add("ReLU backward", lambda g=g, x=x: torch.ops.aten.threshold_backward(g, x, 0))
    for p in params:
        p.grad = torch.randn_like(p)
    adam = torch.optim.Adam(params, lr=1e-3, fused=True)
    add("fused Adam", adam.step)
    return times


# ---------------------------------------------------------------------------- worker processes


def train_slice(model_name: str, params: dict, input_shape, n_classes: int, init_seeds, X_pool, y_pool, members,
                recipe, seeds, device) -> list[dict]:
    """In a worker process on one torch thread: build the models of ``init_seeds`` and train them
    batched; their state dicts (CPU tensors)."""
    from mia_audit.models import build_model
    from mia_audit.reference import train_batched
    from mia_audit.threads import use_threads

    with use_threads(1):
        models = [build_model(model_name, input_shape=input_shape, n_classes=n_classes, seed=s, **params)
                  for s in init_seeds]
        trained = train_batched(models, X_pool, y_pool, members, recipe, seeds, device=device)
    return [{k: v.detach().cpu() for k, v in r.model.state_dict().items()} for r in trained]


def train_in_workers(n_workers: int, args, params: dict, data, X_pool, y_pool, members, recipe, seeds, device):
    """The K models in ``n_workers`` loky processes (joblib), one thread each, K / n_workers
    consecutive models batched per worker; (state dicts in order, seconds)."""
    from joblib import Parallel, delayed

    from mia_audit.reference import init_seed

    K = len(members)
    bounds = np.linspace(0, K, n_workers + 1).astype(int)
    start = time.perf_counter()
    parts = Parallel(n_jobs=n_workers, backend="loky")(
        delayed(train_slice)(args.model, params, X_pool.shape[1:], data.n_classes,
                             [init_seed(args.seed, k) for k in range(a, b)], X_pool, y_pool, members[a:b],
                             recipe, seeds[a:b], device)
        for a, b in zip(bounds[:-1], bounds[1:]))
    return [sd for part in parts for sd in part], time.perf_counter() - start


# ---------------------------------------------------------------------------- one K


def run_one(K: int, args, data, X, y, pool, test, recipe, device) -> None:
    import torch

    from mia_audit.models import build_model
    from mia_audit.reference import init_seed, membership_mask, train_batched, train_seed
    from mia_audit.threads import training_threads
    from mia_audit.training import train_model

    X_pool, y_pool, X_test, y_test = X[pool], y[pool], X[test], y[test]
    params = {"width": args.width} if args.model == "resnet18" and args.width else {}
    mask = membership_mask(K, len(pool), args.seed)
    members = [np.flatnonzero(m) for m in mask]
    models = [build_model(args.model, input_shape=X.shape[1:], n_classes=data.n_classes, seed=init_seed(args.seed, k),
                          **params) for k in range(K)]
    seeds = [train_seed(args.seed, k) for k in range(K)]
    n_seq = K if args.sequential_max is None else max(1, min(K, args.sequential_max))
    sample = torch.as_tensor(X_pool[:1], dtype=torch.float32, device=device)
    with training_threads(models[0].to(device), sample, recipe.batch_size, device=device, models=K):
        threads = torch.get_num_threads()  # what train_batched will run on
    models[0].to("cpu")
    print(f"\n{K} x {args.model} on {args.dataset}: pool {len(pool)}, {len(members[0])} records per model, "
          f"{recipe.epochs} epochs, batch {recipe.batch_size}, {recipe.optimizer} lr {recipe.lr:g}; device {device}, "
          f"batched trainer on {threads} torch thread(s)")

    # warm-up: imports, kernels and allocator, for both trainers
    warm = [build_model(args.model, input_shape=X.shape[1:], n_classes=data.n_classes, seed=1, **params)
            for _ in range(2)]
    small = recipe.replace(epochs=1)
    train_batched(warm, X_pool, y_pool, [m[:256] for m in members[:2]], small, [1, 2], device=device)
    train_model(warm[0], X_pool[members[0][:256]], y_pool[members[0][:256]], small, seed=1, device=device)

    with training_threads(models[0].to(device), sample, recipe.batch_size, device=device, models=K):
        peaks_before = matmul_peaks(models[0], K, recipe.batch_size, device)
    models[0].to("cpu")
    t_batched = t_sequential = float("inf")
    for _ in range(max(1, args.repeats)):  # alternate, so both see the same machine
        start = time.perf_counter()
        batched = [r.model for r in train_batched(models, X_pool, y_pool, members, recipe, seeds, device=device)]
        t_batched = min(t_batched, time.perf_counter() - start)
        start = time.perf_counter()
        sequential = [train_model(m, X_pool[idx], y_pool[idx], recipe, seed=s, device=device).model
                      for m, idx, s in zip(models[:n_seq], members[:n_seq], seeds[:n_seq])]
        t_sequential = min(t_sequential, (time.perf_counter() - start) * K / n_seq)

    t_workers = cold = None
    if args.workers:
        start = time.perf_counter()  # starts the processes and imports torch there
        train_in_workers(args.workers, args, params, data, X_pool, y_pool, [m[:256] for m in members[:args.workers]], small,
                         seeds[:args.workers], device)
        cold = time.perf_counter() - start
        t_workers = float("inf")
        for _ in range(max(1, args.repeats)):
            states, seconds = train_in_workers(args.workers, args, params, data, X_pool, y_pool, members, recipe, seeds,
                                               device)
            t_workers = min(t_workers, seconds)
        worker_diff = max(float((states[k][n].float() - batched[k].state_dict()[n].float().cpu()).abs().max())
                          for k in range(K) for n in states[k])

    X_t = torch.as_tensor(X_test, device=device)

    def probabilities(net) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(net(X_t).float(), dim=1).cpu().numpy()

    p_b = [probabilities(m) for m in batched[:n_seq]]
    p_s = [probabilities(m) for m in sequential]
    acc_b = np.array([float((p.argmax(1) == y_test).mean()) for p in p_b])
    acc_s = np.array([float((p.argmax(1) == y_test).mean()) for p in p_s])
    p_diff = max(float(np.abs(a - b).max()) for a, b in zip(p_b, p_s))
    diff = max(float((a.state_dict()[n].float() - b.state_dict()[n].float()).abs().max())
               for a, b in zip(batched, sequential) for n in a.state_dict())
    se = float(np.sqrt(acc_s.mean() * (1 - acc_s.mean()) / len(test)))
    sd = (lambda a: a.std(ddof=1) if len(a) > 1 else 0.0)
    scaled = "" if n_seq == K else f" ({n_seq} models timed, scaled to {K})"
    print(f"sequential  {t_sequential:8.2f} s   test accuracy {acc_s.mean():.4f} +- {sd(acc_s):.4f} (SD){scaled}")
    print(f"batched     {t_batched:8.2f} s   test accuracy {acc_b.mean():.4f} +- {sd(acc_b):.4f} (SD)")
    print(f"speed-up    {t_sequential / t_batched:8.2f} x")
    print(f"matching models: largest |weight difference| {diff:.2e}, largest |test probability difference| "
          f"{p_diff:.2e}; mean accuracy difference {acc_b.mean() - acc_s.mean():+.4f} "
          f"(binomial SE of one model {se:.4f})")

    per_record = flops_per_record(models[0], X_pool, y_pool, recipe.batch_size)
    total = per_record * len(members[0]) * recipe.epochs * K
    achieved = total / t_batched / 1e9
    with training_threads(models[0].to(device), sample, recipe.batch_size, device=device, models=K):
        peaks_after = matmul_peaks(models[0], K, recipe.batch_size, device)
    models[0].to("cpu")
    peaks = {key: max(peaks_before[key], peaks_after[key], key=lambda v: v[1]) for key in peaks_after}  # the best
    print(f"work        {per_record * recipe.batch_size / 1e9:.4f} GFLOP per model and batch (forward + backward), "
          f"{total / 1e9:.1f} GFLOP in all; batched {achieved:.1f} GFLOP/s")
    for label, value in peaks.values():
        print(f"peak        {value:8.1f} GFLOP/s  {label} on {threads} thread(s): batched reaches "
              f"{100 * achieved / value:.0f} %")
    if t_workers is not None:
        on_workers, peak_threads, worker_peaks = total / t_workers / 1e9, threads, peaks
        if args.workers != threads:  # the peak of as many threads as there are workers
            from mia_audit.threads import use_threads

            with use_threads(args.workers):
                worker_peaks = matmul_peaks(models[0].to(device), K, recipe.batch_size, device)
            models[0].to("cpu")
            peak_threads = args.workers
        print(f"workers     {t_workers:8.2f} s   {args.workers} processes x 1 thread, {K // args.workers} batched models "
              f"each ({cold:.1f} s to start them and a warm-up): {on_workers:.1f} GFLOP/s, "
              + ", ".join(f"{100 * on_workers / v:.0f} % of the {label.split()[0]} peak on {peak_threads} thread(s)"
                          for label, v in worker_peaks.values())
              + f"; {t_sequential / t_workers:.2f}x the sequential loop; largest |weight difference| from the "
              f"in-process batched models {worker_diff:.2e}")
    with training_threads(models[0].to(device), sample, recipe.batch_size, device=device, models=K):
        kernels = step_kernels(models[0], K, recipe.batch_size, device)
    models[0].to("cpu")
    if kernels is not None and "bmm" in peaks:
        steps = recipe.epochs * len(members[0]) / recipe.batch_size
        alone, step = sum(kernels.values()), t_batched / steps
        flop = per_record * recipe.batch_size * K
        print(f"one step    {1e3 * step:8.2f} ms in the trainer; its kernels timed alone add up to {1e3 * alone:.2f} ms "
              f"({flop / alone / 1e9:.1f} GFLOP/s, {100 * flop / alone / 1e9 / peaks['bmm'][1]:.0f} % of the bmm peak: "
              "the ceiling of this step)")
        for key, value in sorted(kernels.items(), key=lambda kv: -kv[1]):
            print(f"            {1e3 * value:8.2f} ms  {key}")


def main() -> None:
    args = parse()
    import torch

    from mia_audit.data import load_dataset
    from mia_audit.device import resolve_device
    from mia_audit.threads import use_threads
    from mia_audit.training import recipe_for

    device = resolve_device(args.device)
    data = load_dataset(args.dataset)
    X, y = data.X, data.y
    if args.model == "mlp" and X.ndim > 2:
        X = X.reshape(len(X), -1)
    order = np.random.default_rng(args.seed).permutation(len(X))
    pool, test = order[: args.pool], order[args.pool: args.pool + args.test]
    recipe = recipe_for(args.model, "tabular" if data.kind == "tabular" else "image").replace(epochs=args.epochs)
    with use_threads(args.threads):  # None: the policy; a count: pinned for both trainers
        print(f"torch {torch.__version__}, {torch.get_num_threads()} torch thread(s) by default, "
              f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
        for K in [int(v) for v in str(args.models).split(",") if v.strip()]:
            run_one(K, args, data, X, y, pool, test, recipe, device)


if __name__ == "__main__":
    main()
