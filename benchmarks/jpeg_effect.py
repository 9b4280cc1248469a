"""What the JPEG copy of CIFAR-10 costs airnet in test accuracy: the same images, exact against JPEG.

    python benchmarks/jpeg_effect.py --exact-dir DIR                 # 10 epochs, seed 0
    python benchmarks/jpeg_effect.py --exact-dir DIR --seeds 0,1 --out jpeg_effect.json

``../shared/data/cifar10_jpeg.npz`` holds CIFAR-10 as JPEG files (quality about 75, 4:2:0 chroma),
so airnet's accuracy there cannot be set against airbench94's 94 % on the original pixels. The exact
pixels of the first 1,017 images of each of the six original batches survive in truncated copies of
the python batches (``data_batch_1`` ... ``data_batch_5``, ``test_batch``: 3,145,728 bytes each, e.g.
``zhi-fangZhang/idpl_gen`` at ``data/cifar-10-batches-py/``; see ``../shared/data/README.md``). Put
those six files in ``DIR``. They are pickles: this script never unpickles them. It finds the one
``BINSTRING`` of the image array (the opcode ``T`` and the length 30,720,000 as 4 little-endian bytes)
and reads the complete 3,072-byte rows after it (R, G, B planes of 32 x 32, the array's own order).

Image ``j`` of ``data_batch_k`` is train image ``(k - 1) * 10000 + j`` of the npz, test image ``j`` of
``test_batch`` is test image ``j`` (the README's check: the order is the original one). The script
checks that pairing: every exact image must lie within a mean absolute error of 20 grey levels of its
JPEG version (the README measured 5.8 on average) and far nearer to it than to the next image.

Then, for each seed, airnet with ``recipe_for("airnet", "image")`` (``--epochs`` overrides) is trained
on the 5,085 exact train images and, separately, on the JPEG versions of the same 5,085 (the same
labels, seed and recipe), and both are tested (flip TTA, airnet's default) on the 1,017 exact test
images and on their JPEG versions. The difference "exact/exact minus JPEG/JPEG" is what the JPEG copy
costs at this size; the cross cells show whether it comes from training or from testing.

Measured (2026-12-02, 2 cores of an AMD EPYC, CPU float32, ``--epochs 20`` (100 steps: 10 epochs of
5 steps are too few to train), seeds 0 and 1; pairing MAE 5.77 grey levels on average, at most 12.99,
72.6 to the next image):

=============  ================  ======================  ================  ======================
seed           exact / exact     exact-trained / JPEG    JPEG / exact      JPEG / JPEG
=============  ================  ======================  ================  ======================
0              79.84 %           72.37 %                 68.53 %           76.30 %
1              79.15 %           72.76 %                 65.88 %           75.02 %
mean           79.50 %           72.57 %                 67.21 %           75.66 %
=============  ================  ======================  ================  ======================

So the JPEG copy costs airnet 3.8 points at this size (3.54 and 4.13; one accuracy on 1,017 images has a
binomial SE of 1.3 points), and a model tested on the other kind of pixels than it was trained on loses
7-12 points: compression artifacts are a strong signal, which is why members and non-members must come
from the same copy. Each run took 426-505 s.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))

BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")
TEST_BATCH = "test_batch"
ROW = 3 * 32 * 32
#: the BINSTRING opcode and the byte length of a batch's (10000, 3072) uint8 image array
ARRAY_HEADER = b"T" + struct.pack("<I", 10000 * ROW)
BATCH_SIZE = 10000
MAX_MAE = 20.0


def exact_images(path: Path) -> np.ndarray:
    """The complete image rows of a (possibly truncated) CIFAR-10 python batch, as (n, 3, 32, 32)
    uint8, read as bytes after the image array's BINSTRING header (never unpickled)."""
    raw = path.read_bytes()
    start = raw.find(ARRAY_HEADER)
    if start < 0 or raw.find(ARRAY_HEADER, start + 1) >= 0:
        raise SystemExit(f"{path}: not one image array header (T + length {10000 * ROW}) in the file")
    body = raw[start + len(ARRAY_HEADER):]
    n = min(len(body) // ROW, BATCH_SIZE)
    if n < 1:
        raise SystemExit(f"{path}: no complete image after the array header")
    return np.frombuffer(body[: n * ROW], dtype=np.uint8).reshape(n, 3, 32, 32)


def check_pairing(exact: np.ndarray, jpeg: np.ndarray, what: str) -> dict:
    """Mean absolute error (grey levels) of each exact image to its JPEG version, and to the next
    JPEG image (a wrong pairing would be at the second's level, about 70)."""
    e = exact.astype(np.float32)
    j = jpeg.astype(np.float32)
    own = np.abs(e - j).mean(axis=(1, 2, 3))
    other = np.abs(e - np.roll(j, 1, axis=0)).mean(axis=(1, 2, 3))
    if own.max() > MAX_MAE or np.any(own >= other):
        worst = int(own.argmax())
        raise SystemExit(f"{what}: exact image {worst} is {own[worst]:.1f} grey levels from its JPEG version "
                         f"(at most {MAX_MAE} allowed, and nearer than the next image): the pairing is wrong")
    return {"images": int(len(own)), "mae_mean": float(own.mean()), "mae_max": float(own.max()),
            "mae_to_next_image_mean": float(other.mean())}


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--exact-dir", required=True, help="folder with the (truncated) python batches")
    p.add_argument("--data-dir", default=None, help="folder with cifar10_jpeg.npz")
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's 10 epochs")
    p.add_argument("--seeds", default="0", help="comma-separated seeds, one pair of trainings each")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None, help="also write the figures to this JSON file")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    from mia_audit.data import load_dataset
    from mia_audit.models import build_model
    from mia_audit.training import recipe_for, train_model

    from cifar_common import CIFAR_TRAIN, accuracy, resolve_data_dir, write_json

    folder = Path(args.exact_dir)
    train_parts = [exact_images(folder / name) for name in BATCHES]
    test_exact = exact_images(folder / TEST_BATCH)
    rows = np.concatenate([k * BATCH_SIZE + np.arange(len(part)) for k, part in enumerate(train_parts)])
    test_rows = np.arange(len(test_exact))

    data = load_dataset("cifar10", data_dir=resolve_data_dir(args.data_dir))
    jpeg_u8 = np.rint(data.X * 255.0).astype(np.uint8)
    train_exact = np.concatenate(train_parts)
    checks = {"train": check_pairing(train_exact, jpeg_u8[rows], "train"),
              "test": check_pairing(test_exact, jpeg_u8[CIFAR_TRAIN + test_rows], "test")}
    y_tr, y_te = data.y[rows], data.y[CIFAR_TRAIN + test_rows]
    sets = {
        "exact": (train_exact.astype(np.float32) / 255.0, test_exact.astype(np.float32) / 255.0),
        "jpeg": (data.X[rows], data.X[CIFAR_TRAIN + test_rows]),
    }
    recipe = recipe_for("airnet", "image")
    if args.epochs is not None:
        recipe = recipe.replace(epochs=args.epochs)
    print(f"pairing: train MAE {checks['train']['mae_mean']:.2f} (max {checks['train']['mae_max']:.2f}), "
          f"test {checks['test']['mae_mean']:.2f}; to the next image {checks['train']['mae_to_next_image_mean']:.1f}")
    runs = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for trained_on, (X_tr, _) in sets.items():
            model = build_model("airnet", input_shape=X_tr.shape[1:], n_classes=data.n_classes, seed=seed)
            result = train_model(model, X_tr, y_tr, recipe, seed=seed, device=args.device)
            run = {"seed": seed, "trained_on": trained_on, "seconds": result.seconds}
            for tested_on, (_, X_te) in sets.items():
                run[f"test_{tested_on}"] = accuracy(result.model, X_te, y_te)
            runs.append(run)
            print(f"seed {seed}, trained on {len(y_tr)} {trained_on} images ({result.seconds:.0f} s): test accuracy "
                  f"on {len(y_te)} exact {100 * run['test_exact']:.2f} %, on their JPEG versions "
                  f"{100 * run['test_jpeg']:.2f} %", flush=True)

    def mean(trained_on: str, tested_on: str) -> float:
        return float(np.mean([r[f"test_{tested_on}"] for r in runs if r["trained_on"] == trained_on]))

    table = {f"{a}/{b}": mean(a, b) for a in sets for b in sets}
    cost = table["exact/exact"] - table["jpeg/jpeg"]
    print("mean over seeds (train/test): " + ", ".join(f"{k} {100 * v:.2f} %" for k, v in table.items())
          + f"; exact/exact - jpeg/jpeg = {100 * cost:+.2f} points")
    figures = {"pairing": checks, "recipe": recipe.to_dict(), "n_train": int(len(y_tr)), "n_test": int(len(y_te)),
               "runs": runs, "mean": table, "jpeg_cost_points": 100 * cost}
    if args.out:
        write_json(args.out, figures)
    print(json.dumps(figures["mean"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
