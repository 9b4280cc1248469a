"""Selecting images by colour: "images with a lot of red" (the ``red`` forget predicate).

Paper 002 forgets 525 CIFAR-10 images "having a lot of red", chosen with the process
of K. Bhanot (2018), "Color identification in images": per image,

1. find its dominant colours with k-means on its pixels (RGB), ``number_of_colors``
   clusters (the cluster centres);
2. convert each dominant colour and the target colour (pure red, RGB (255, 0, 0))
   to CIELAB;
3. select the image if any dominant colour is within CIE76 ΔE (the Euclidean
   distance in Lab) ``< threshold`` (default 60) of the target.

Differences from the blog post's code, which used scikit-learn's ``KMeans`` and
scikit-image's ``rgb2lab`` one image at a time: the k-means here runs on many
images at once in numpy (k-means++ seeding from an explicit seed, then Lloyd
iterations: at most ``iterations``, an image stopping early when its assignment
no longer changes or its centres move less than ``tol`` relative to its pixel
variance, as scikit-learn's ``tol``); one initialisation by default rather than
scikit-learn's best of several (``n_init`` gives best-of-n by inertia); the image
is not resized (the post resized to 600x400 first, which only adds interpolated
colours); the cluster centres are converted to Lab as floats rather than
truncated to uint8. Every cluster counts, however few pixels it holds, as in the
post. Each image's result depends only on its pixels, its position in the batch
and the seed, never on the chunk size.

Cost: about 1 ms of one CPU core per 32x32 image (k = 4), so the 50,000 CIFAR-10
train images take about a minute. With one initialisation, about 10 % of the
selected images change with the k-means seed (borderline images); the registered
``red`` predicate therefore uses its own fixed seed (option ``seed``, default 0),
so the red set is a property of the images, not of an audit's seed.

Colour conversion (implemented here, numpy only): sRGB with the IEC 61966-2-1
transfer curve, linear RGB to CIE XYZ with the sRGB/D65 matrix (as scikit-image),
reference white D65 for the 2° observer (Xn, Yn, Zn) = (0.95047, 1.0, 1.08883),
then CIE 1976 L*a*b*.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..checks import nonnegative_number, positive_int, positive_number
from ..errors import InputError, bad_value
from ..seeding import check_seed, rng

#: linear sRGB -> XYZ (D65), rows X, Y, Z; the matrix scikit-image uses.
XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
#: D65 reference white, 2° observer.
WHITE_D65 = np.array([0.95047, 1.0, 1.08883])

RED = (255, 0, 0)


def srgb_to_lab(rgb: Any) -> np.ndarray:
    """Convert sRGB colours in ``[0, 1]`` (last axis of length 3) to CIELAB (D65, 2°).

    Returns a new float64 array of the same shape, channels ``(L*, a*, b*)``;
    white gives (100, 0, 0) and pure red about (53.24, 80.09, 67.20).
    """
    c = np.asarray(rgb, dtype=np.float64)
    if c.shape[-1:] != (3,):
        raise bad_value("rgb", "an array whose last axis has length 3", f"shape {c.shape}")
    linear = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = linear @ XYZ_FROM_RGB.T / WHITE_D65
    eps = (6.0 / 29.0) ** 3
    f = np.where(xyz > eps, np.cbrt(xyz), xyz / (3 * (6.0 / 29.0) ** 2) + 4.0 / 29.0)
    L = 116.0 * f[..., 1] - 16.0
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1)


def delta_e_cie76(lab1: Any, lab2: Any) -> np.ndarray:
    """CIE76 colour difference: the Euclidean distance between Lab colours (last axis)."""
    d = np.asarray(lab1, dtype=np.float64) - np.asarray(lab2, dtype=np.float64)
    return np.sqrt((d * d).sum(axis=-1))


def _assign(xs: list[np.ndarray], centers: np.ndarray, labels: np.ndarray, best: np.ndarray) -> None:
    """Nearest centre of every point, in place: ``labels`` (B, P) int64, ``best`` (B, P) scratch.

    ``xs`` are the D coordinates of the points, each (B, P) float32; the squared
    distance is ranked as ``|c|^2 - 2 x.c`` (``|x|^2`` is the same for every centre).
    Ties go to the lowest centre index.
    """
    B, P = labels.shape
    k = centers.shape[1]
    cc = (centers * centers).sum(axis=-1)  # (B, k)
    score = np.empty((B, P), dtype=np.float32)
    tmp = np.empty((B, P), dtype=np.float32)
    better = np.empty((B, P), dtype=bool)
    for j in range(k):
        np.multiply(xs[0], centers[:, j, 0:1], out=score)
        for d in range(1, len(xs)):
            np.multiply(xs[d], centers[:, j, d : d + 1], out=tmp)
            np.add(score, tmp, out=score)
        np.multiply(score, np.float32(-2.0), out=score)
        np.add(score, cc[:, j : j + 1], out=score)
        if j == 0:
            best[...] = score
            labels[...] = 0
        else:
            np.less(score, best, out=better)
            np.copyto(best, score, where=better)
            np.copyto(labels, j, where=better)


def _kmeanspp(x: np.ndarray, xs: list[np.ndarray], u: np.ndarray, k: int) -> np.ndarray:
    """k-means++ seeding of a batch: ``x`` (B, P, D), ``u`` (B, k) uniforms → centres (B, k, D).

    Centre 0 is pixel ``floor(u[:, 0] * P)``; centre j is drawn with probability
    proportional to the squared distance to the nearest centre chosen so far (inverse
    CDF at ``u[:, j]``). An image whose pixels all equal chosen centres draws uniformly.
    """
    B, P, D = x.shape
    rows = np.arange(B)
    centers = np.empty((B, k, D), dtype=np.float32)
    d2 = np.empty((B, P), dtype=np.float32)
    dj = np.empty((B, P), dtype=np.float32)
    tmp = np.empty((B, P), dtype=np.float32)
    pick = np.minimum((u[:, 0] * P).astype(np.int64), P - 1)
    for j in range(k):
        if j > 0:
            total = d2.sum(axis=1, dtype=np.float64)
            cum = np.cumsum(d2, axis=1, dtype=np.float64)
            pick = (cum < (u[:, j] * total)[:, None]).sum(axis=1)
            flat = total <= 0
            pick = np.minimum(np.where(flat, (u[:, j] * P).astype(np.int64), pick), P - 1)
        centers[:, j] = x[rows, pick]
        if j == k - 1:
            break
        dj.fill(0.0)
        for d in range(D):
            np.subtract(xs[d], centers[:, j, d : d + 1], out=tmp)
            np.multiply(tmp, tmp, out=tmp)
            np.add(dj, tmp, out=dj)
        if j == 0:
            d2[...] = dj
        else:
            np.minimum(d2, dj, out=d2)
    return centers


def _lloyd(x: np.ndarray, xs: list[np.ndarray], centers: np.ndarray, iterations: int, tol: float) -> None:
    """Lloyd iterations on a batch, updating ``centers`` (B, k, D) in place.

    An image stops when its assignment no longer changes (a fixed point: further
    iterations would change nothing) or when its centres move by less than
    ``tol`` times the mean per-channel variance of its pixels (squared Frobenius
    norm, as scikit-learn's ``tol``), or after ``iterations`` steps. Each image's
    result depends on its own pixels only, not on the other images of the batch.
    An empty cluster keeps its centre.
    """
    B, P, D = x.shape
    k = centers.shape[1]
    active = np.arange(B)
    limit = tol * x.var(axis=1, dtype=np.float64).mean(axis=1)
    ks = np.arange(k)[None, :, None]
    prev = None
    for _ in range(iterations):
        labels = np.empty((active.size, P), dtype=np.int64)
        _assign(xs, centers[active], labels, np.empty((active.size, P), dtype=np.float32))
        if prev is not None:
            moved = (labels != prev).any(axis=1)
            if not moved.all():
                active, labels, x = active[moved], labels[moved], x[moved]
                xs = [c[moved] for c in xs]
                if active.size == 0:
                    return
        onehot = (labels[:, None, :] == ks).astype(np.float32)  # (A, k, P)
        counts = onehot.sum(axis=2)
        sums = np.matmul(onehot, x)  # (A, k, D)
        old = centers[active]
        filled = counts > 0
        safe = np.where(filled, counts, 1.0)[..., None]
        new = np.where(filled[..., None], sums / safe, old).astype(np.float32)
        centers[active] = new
        prev = labels
        if tol > 0:
            shift = ((new - old).astype(np.float64) ** 2).sum(axis=(1, 2))
            keep = shift > limit[active]
            if not keep.all():
                active, prev, x = active[keep], prev[keep], x[keep]
                xs = [c[keep] for c in xs]
                if active.size == 0:
                    return


def _kmeans_chunk(x: np.ndarray, u: np.ndarray, iterations: int, tol: float) -> np.ndarray:
    """k-means of each set of a batch: ``x`` (B, P, D) float32, ``u`` (B, n_init, k) → (B, k, D).

    With ``n_init > 1`` each image keeps the run with the lowest inertia (sum of
    squared distances to the nearest centre; the first run wins ties).
    """
    B, P, D = x.shape
    n_init, k = u.shape[1], u.shape[2]
    xs = [np.ascontiguousarray(x[..., d]) for d in range(D)]
    best_centers = None
    best_inertia = None
    for r in range(n_init):
        centers = _kmeanspp(x, xs, u[:, r], k)
        _lloyd(x, xs, centers, iterations, tol)
        if n_init == 1:
            return centers
        labels = np.empty((B, P), dtype=np.int64)
        score = np.empty((B, P), dtype=np.float32)
        _assign(xs, centers, labels, score)  # score = |c|^2 - 2 x.c; + |x|^2 gives the distance
        inertia = score.sum(axis=1, dtype=np.float64)
        if best_centers is None:
            best_centers, best_inertia = centers, inertia
        else:
            better = inertia < best_inertia
            best_centers[better] = centers[better]
            best_inertia = np.where(better, inertia, best_inertia)
    return best_centers


def _check_tol(tol: Any) -> float:
    return nonnegative_number("tol", tol)


def _uniforms(seed: int, m: int, n_init: int, k: int) -> np.ndarray:
    """(m, n_init, k) uniforms; run r's draws do not depend on n_init (run 0 = the n_init=1 run)."""
    seed = check_seed(seed)
    return np.stack([rng(seed, "kmeans++", r).random((m, k)) for r in range(n_init)], axis=1)


def batched_kmeans(
    points: Any,
    k: int,
    *,
    seed: int,
    iterations: int = 30,
    tol: float = 1e-4,
    n_init: int = 1,
    chunk_size: int = 256,
) -> np.ndarray:
    """Cluster the points of many small sets at once: ``points`` (n, P, D) → centres (n, k, D) float32.

    Each set gets its own k-means: k-means++ seeding from ``seed``, then at most
    ``iterations`` Lloyd steps (stopping early at a fixed point or when the centres
    move less than ``tol``, relative to the set's variance), best of ``n_init`` runs
    by inertia. The centres of set ``i`` depend only on ``points[i]``, ``i`` and
    ``seed`` (not on ``chunk_size`` or the other sets). ``points`` is not modified.
    """
    pts = np.asarray(points)
    if pts.ndim != 3 or pts.shape[1] < 1 or pts.shape[2] < 1:
        raise bad_value("points", "an array of shape (n, P, D) with P, D >= 1", f"shape {pts.shape}")
    k = positive_int("k", k, minimum=1)
    iterations = positive_int("iterations", iterations, minimum=1)
    n_init = positive_int("n_init", n_init, minimum=1)
    chunk_size = positive_int("chunk_size", chunk_size, minimum=1)
    tol = _check_tol(tol)
    u = _uniforms(seed, pts.shape[0], n_init, k)
    out = np.empty((pts.shape[0], k, pts.shape[2]), dtype=np.float32)
    for lo in range(0, pts.shape[0], chunk_size):
        hi = min(lo + chunk_size, pts.shape[0])
        out[lo:hi] = _kmeans_chunk(pts[lo:hi].astype(np.float32), u[lo:hi], iterations, tol)
    return out


def _check_images(images: Any) -> np.ndarray:
    arr = images if isinstance(images, np.ndarray) else np.asarray(images)
    if arr.ndim != 4 or arr.shape[1] != 3:
        raise bad_value("images", "RGB images of shape (n, 3, H, W) with values in [0, 1]", f"shape {arr.shape}")
    return arr


def dominant_colors(
    images: Any,
    *,
    seed: int,
    indices: Any = None,
    number_of_colors: int = 4,
    iterations: int = 30,
    tol: float = 1e-4,
    n_init: int = 1,
    chunk_size: int = 256,
    progress: bool = False,
) -> np.ndarray:
    """Dominant colours of RGB images: the k-means centres of each image's pixels.

    Args:
        images: (n, 3, H, W) RGB in ``[0, 1]`` (not modified).
        seed: seed of the k-means++ seeding; image ``i`` of ``indices`` always uses
            the same draws, whatever ``chunk_size``.
        indices: optional images to use (default all), gathered a chunk at a time.
        number_of_colors: clusters per image (k).
        iterations, tol, n_init: see :func:`batched_kmeans`.
        chunk_size: images processed at once.
        progress: show a progress bar.

    Returns:
        (m, number_of_colors, 3) float32 RGB colours in ``[0, 1]``, m = len(indices) or n.
    """
    arr = _check_images(images)
    k = positive_int("number_of_colors", number_of_colors, minimum=1)
    iterations = positive_int("iterations", iterations, minimum=1)
    n_init = positive_int("n_init", n_init, minimum=1)
    chunk_size = positive_int("chunk_size", chunk_size, minimum=1)
    tol = _check_tol(tol)
    if indices is None:
        idx = np.arange(arr.shape[0])
    else:
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise bad_value("indices", "a 1-d array of integer indices", f"{idx.dtype} shape {idx.shape}")
    m = idx.shape[0]
    u = _uniforms(seed, m, n_init, k)
    out = np.empty((m, k, 3), dtype=np.float32)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=m, desc="dominant colours", unit="img")
    try:
        for lo in range(0, m, chunk_size):
            hi = min(lo + chunk_size, m)
            block = arr[idx[lo:hi]]  # (c, 3, H, W), a copy
            pts = block.reshape(block.shape[0], 3, -1).transpose(0, 2, 1).astype(np.float32)
            out[lo:hi] = _kmeans_chunk(np.ascontiguousarray(pts), u[lo:hi], iterations, tol)
            if bar is not None:
                bar.update(hi - lo)
    finally:
        if bar is not None:
            bar.close()
    return out


def color_mask(
    images: Any,
    *,
    seed: int,
    indices: Any = None,
    target: Sequence[float] = RED,
    threshold: float = 60.0,
    number_of_colors: int = 4,
    iterations: int = 30,
    tol: float = 1e-4,
    n_init: int = 1,
    chunk_size: int = 256,
    progress: bool = False,
) -> np.ndarray:
    """Which images have a dominant colour within CIE76 ΔE < ``threshold`` of ``target``.

    Args:
        images: (n, 3, H, W) RGB in ``[0, 1]`` (not modified).
        seed: seed of the per-image k-means.
        indices: optional subset of images to test (default all).
        target: the colour as RGB in 0..255 (default pure red (255, 0, 0)).
        threshold: ΔE limit (CIE76), > 0.
        number_of_colors, iterations, tol, n_init, chunk_size, progress: see
            :func:`dominant_colors`.

    Returns:
        A bool array, one entry per tested image.
    """
    tgt = np.asarray(target, dtype=np.float64)
    if tgt.shape != (3,) or not np.all((tgt >= 0) & (tgt <= 255)):
        raise bad_value("target", "an RGB colour of three values in [0, 255]", target)
    positive_number("threshold", threshold, note=" (CIE76 delta E)")
    colours = dominant_colors(
        images,
        seed=seed,
        indices=indices,
        number_of_colors=number_of_colors,
        iterations=iterations,
        tol=tol,
        n_init=n_init,
        chunk_size=chunk_size,
        progress=progress,
    )
    lab = srgb_to_lab(np.clip(colours, 0.0, 1.0))
    dist = delta_e_cie76(lab, srgb_to_lab(tgt / 255.0))
    return (dist < float(threshold)).any(axis=1)


def red_mask(dataset: Any, indices: Any, *, seed: int = 0, **options: Any) -> np.ndarray:
    """:func:`color_mask` (target red by default) over ``dataset.X[indices]`` of an RGB image dataset.

    ``seed`` (default 0) seeds the per-image k-means; it is fixed by default so that
    which images count as red is a property of the images, not of an audit's seed.
    """
    if getattr(dataset, "kind", None) != "image" or dataset.X.ndim != 4 or dataset.X.shape[1] != 3:
        raise InputError(
            "the 'red' predicate needs an RGB image dataset (X of shape (n, 3, H, W)); "
            f"got dataset {getattr(dataset, 'name', '?')!r} of kind {getattr(dataset, 'kind', '?')!r} "
            f"with X of shape {getattr(getattr(dataset, 'X', None), 'shape', None)}"
        )
    options.setdefault("target", RED)
    return color_mask(dataset.X, seed=seed, indices=indices, **options)
