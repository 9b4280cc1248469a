"""Batched (torch.func) vs sequential (train_model loop) training of K reference models.

Both trainers get the same K initial models, the same training halves (the reference
mask) and the same seeds, so they train the same models (to rounding); the script
prints the seconds of each, their ratio, the mean / SD test accuracy of both sets and
the largest weight difference between matching models.

    python benchmarks/reference_training.py                      # Adult, 64 MLPs, CPU
    python benchmarks/reference_training.py --threads 1          # both on one torch thread
    python benchmarks/reference_training.py --device cuda        # the same on a GPU
    python benchmarks/reference_training.py --dataset cifar10 --model cnn --device cuda --pool 20000

Settings (defaults): Adult, a pool of 8,000 records (each model trains on 4,000),
64 models, the default ``mlp`` (hidden 256-256) with ``recipe_for("mlp", "tabular")``
but 3 epochs instead of 30 (``--epochs``) to keep the sequential run to minutes;
test accuracy on 4,000 records outside the pool. Timings include moving data to the
device and are taken after a warm-up of both trainers; CUDA is synchronised before a
clock stops (train_model and train_batched both synchronise).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="adult", choices=["adult", "digits", "cifar10"])
    p.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    p.add_argument("--models", type=int, default=64, help="K reference models (even)")
    p.add_argument("--pool", type=int, default=8000, help="pool records (each model trains on half)")
    p.add_argument("--test", type=int, default=4000, help="test records outside the pool")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def main() -> None:
    args = parse()
    import torch

    from mia_audit.data import load_dataset
    from mia_audit.device import resolve_device
    from mia_audit.models import build_model
    from mia_audit.reference import init_seed, membership_mask, train_batched, train_seed
    from mia_audit.training import recipe_for, train_model

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    data = load_dataset(args.dataset)
    X, y = data.X, data.y
    if args.model == "mlp" and X.ndim > 2:
        X = X.reshape(len(X), -1)
    order = np.random.default_rng(args.seed).permutation(len(X))
    pool, test = order[: args.pool], order[args.pool: args.pool + args.test]
    X_pool, y_pool, X_test, y_test = X[pool], y[pool], X[test], y[test]
    recipe = recipe_for(args.model, "tabular" if data.kind == "tabular" else "image").replace(epochs=args.epochs)
    K = args.models
    mask = membership_mask(K, len(pool), args.seed)
    members = [np.flatnonzero(m) for m in mask]
    models = [build_model(args.model, input_shape=X.shape[1:], n_classes=data.n_classes, seed=init_seed(args.seed, k))
              for k in range(K)]
    seeds = [train_seed(args.seed, k) for k in range(K)]
    print(f"{K} x {args.model} on {args.dataset}: pool {len(pool)}, {len(members[0])} records per model, "
          f"{recipe.epochs} epochs, batch {recipe.batch_size}, {recipe.optimizer} lr {recipe.lr:g}; device {device}, "
          f"torch threads {torch.get_num_threads()}")

    # warm-up: imports, kernels and allocator, for both trainers
    warm = [build_model(args.model, input_shape=X.shape[1:], n_classes=data.n_classes, seed=1) for _ in range(2)]
    small = recipe.replace(epochs=1)
    train_batched(warm, X_pool, y_pool, [m[:256] for m in members[:2]], small, [1, 2], device=device)
    train_model(warm[0], X_pool[members[0][:256]], y_pool[members[0][:256]], small, seed=1, device=device)

    start = time.perf_counter()
    batched = [r.model for r in train_batched(models, X_pool, y_pool, members, recipe, seeds, device=device)]
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    sequential = [train_model(m, X_pool[idx], y_pool[idx], recipe, seed=s, device=device).model
                  for m, idx, s in zip(models, members, seeds)]
    t_sequential = time.perf_counter() - start

    X_t = torch.as_tensor(X_test, device=device)

    def probabilities(net) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(net(X_t).float(), dim=1).cpu().numpy()

    p_b = [probabilities(m) for m in batched]
    p_s = [probabilities(m) for m in sequential]
    acc_b = np.array([float((p.argmax(1) == y_test).mean()) for p in p_b])
    acc_s = np.array([float((p.argmax(1) == y_test).mean()) for p in p_s])
    p_diff = max(float(np.abs(a - b).max()) for a, b in zip(p_b, p_s))
    diff = max(float((a.state_dict()[n].float() - b.state_dict()[n].float()).abs().max())
               for a, b in zip(batched, sequential) for n in a.state_dict())
    se = float(np.sqrt(acc_s.mean() * (1 - acc_s.mean()) / len(test)))
    print(f"sequential  {t_sequential:8.1f} s   test accuracy {acc_s.mean():.4f} +- {acc_s.std(ddof=1):.4f} (SD)")
    print(f"batched     {t_batched:8.1f} s   test accuracy {acc_b.mean():.4f} +- {acc_b.std(ddof=1):.4f} (SD)")
    print(f"speed-up    {t_sequential / t_batched:8.2f} x   (target >= 8 x)")
    print(f"matching models: largest |weight difference| {diff:.2e}, largest |test probability difference| "
          f"{p_diff:.2e}; mean accuracy difference {acc_b.mean() - acc_s.mean():+.4f} "
          f"(binomial SE of one model {se:.4f})")


if __name__ == "__main__":
    main()
