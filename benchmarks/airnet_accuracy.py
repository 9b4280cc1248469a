"""airnet's CIFAR-10 test accuracy with its recipe, on a random half of the training images or on all.

    python benchmarks/airnet_accuracy.py --train half            # 25,000 images, the LiRA reference size
    python benchmarks/airnet_accuracy.py --train all --device cuda
    python benchmarks/airnet_accuracy.py --train half --plain     # without airbench's extra pieces

Trains ``build_model("airnet")`` with ``recipe_for("airnet", "image")`` (``--epochs`` overrides its
10) through ``train_model`` and prints the test accuracy on the 10,000 test images at each
test-time augmentation level (0: none, 1: the flip, the default; 2: the flip and two one-pixel
shifts, airbench's ``tta_level=2``), the seconds, and the recipe. ``--plain`` turns off the
alternating flips, the Lookahead and the whitening-bias freeze (the recipe before they existed),
for an ablation on the same rows and seed. The half is ``permutation(50000)[:25000]`` of
``numpy.random.default_rng(seed)``, as in gpu_check.py. Needs the CIFAR-10 file
(``--data-dir``, default ``$MIA_AUDIT_DATA`` or ``../shared/data``).

Measured on the 2-core development machine (CPU, float32, seed 0, the JPEG-q75 copy of CIFAR-10 in
``../shared/data``): see the figures in :mod:`mia_audit.models.airnet`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train", choices=["half", "all"], default="half")
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    p.add_argument("--plain", action="store_true", help="no alternating flip, Lookahead or whitening-bias freeze")
    p.add_argument("--device", default="auto")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--limit", type=int, default=None, help="use only this many images of each split (a smoke run)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="also write the figures to this JSON file")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    import numpy as np

    from mia_audit.data import load_dataset
    from mia_audit.models import build_model
    from mia_audit.training import recipe_for, train_model

    from cifar_common import accuracy, resolve_data_dir, write_json

    data = load_dataset("cifar10", data_dir=resolve_data_dir(args.data_dir), limit=args.limit)
    n_tr = int(data.meta["original_split"]["train"])
    X_tr, y_tr, X_te, y_te = data.X[:n_tr], data.y[:n_tr], data.X[n_tr:], data.y[n_tr:]
    if args.train == "half":
        rows = np.random.default_rng(args.seed).permutation(n_tr)[: n_tr // 2]
        X_tr, y_tr = X_tr[rows], y_tr[rows]
    recipe = recipe_for("airnet", "image")
    if args.epochs is not None:
        recipe = recipe.replace(epochs=args.epochs)
    if args.plain:
        recipe = recipe.replace(alternating_flip=False, lookahead=False, freeze_after=())
    model = build_model("airnet", input_shape=X_tr.shape[1:], n_classes=data.n_classes, seed=args.seed)
    result = train_model(model, X_tr, y_tr, recipe, seed=args.seed, device=args.device, progress=True)
    net = result.model
    figures = {"n_train": int(len(y_tr)), "n_test": int(len(y_te)), "seconds": result.seconds,
               "device": result.device, "recipe": recipe.to_dict(), "final_train_loss": result.history[-1]}
    for level in (0, 1, 2):
        net.tta = level
        figures[f"test_accuracy_tta{level}"] = accuracy(net, X_te, y_te)
    print(f"airnet on {figures['n_train']} images, {recipe.epochs} epochs{' (plain)' if args.plain else ''}, "
          f"{figures['seconds']:.0f} s on {figures['device']}: test accuracy "
          + ", ".join(f"tta {lv} {100 * figures[f'test_accuracy_tta{lv}']:.2f} %" for lv in (0, 1, 2)))
    print(json.dumps(figures["recipe"]))
    if args.out:
        write_json(args.out, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
