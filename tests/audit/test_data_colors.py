"""sRGB -> Lab, CIE76, batched k-means and the red-image predicate."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mia_audit.data.colors import (
    batched_kmeans,
    color_mask,
    delta_e_cie76,
    dominant_colors,
    red_mask,
    srgb_to_lab,
)
from mia_audit.data import Dataset, load_dataset
from mia_audit.errors import InputError


def _lab_reference(rgb):
    """Textbook sRGB -> XYZ -> Lab, one colour at a time (independent of the vectorised code)."""
    def lin(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(float(c)) for c in rgb)
    X = 0.412453 * r + 0.357580 * g + 0.180423 * b
    Y = 0.212671 * r + 0.715160 * g + 0.072169 * b
    Z = 0.019334 * r + 0.119193 * g + 0.950227 * b

    def f(t):
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    fx, fy, fz = f(X / 0.95047), f(Y / 1.0), f(Z / 1.08883)
    return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)]


def test_lab_known_values():
    lab = srgb_to_lab([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert np.allclose(lab[0], [100.0, 0.0, 0.0], atol=0.01)
    assert np.allclose(lab[1], [53.24, 80.09, 67.20], atol=0.01)
    assert np.allclose(lab[2], [0.0, 0.0, 0.0], atol=1e-9)
    assert np.allclose(srgb_to_lab([0.0, 0.0, 1.0]), [32.30, 79.19, -107.86], atol=0.02)
    assert np.allclose(srgb_to_lab([0.0, 1.0, 0.0]), [87.74, -86.18, 83.18], atol=0.02)


def test_lab_against_scalar_reference():
    colours = np.random.default_rng(0).random((50, 3))
    colours[:5] = 0.02  # the linear part of the sRGB curve and of f
    got = srgb_to_lab(colours.reshape(5, 10, 3)).reshape(50, 3)
    want = np.array([_lab_reference(c) for c in colours])
    assert np.allclose(got, want, atol=1e-9)


def test_lab_shape_error():
    with pytest.raises(InputError, match="last axis has length 3"):
        srgb_to_lab(np.zeros((4, 2)))


def test_delta_e():
    assert delta_e_cie76([50, 0, 0], [50, 3, 4]) == pytest.approx(5.0)
    assert delta_e_cie76(np.zeros((2, 3)), np.ones(3)).shape == (2,)


def _images(colours, size=8):
    """One flat image per RGB colour (0..1)."""
    c = np.asarray(colours, dtype=np.float32)
    return np.broadcast_to(c[:, :, None, None], (c.shape[0], 3, size, size)).copy()


def test_flat_images():
    imgs = _images([[1, 0, 0], [0, 0, 1], [0.5, 0.5, 0.5], [0.75, 0.05, 0.1], [1, 1, 1]])
    before = imgs.copy()
    mask = color_mask(imgs, seed=0)
    assert mask.tolist() == [True, False, False, True, False]
    assert np.array_equal(imgs, before)
    cols = dominant_colors(imgs, seed=0)
    assert cols.shape == (5, 4, 3)
    assert np.allclose(cols, imgs[:, :, :1, 0].transpose(0, 2, 1), atol=1e-6)


def test_two_colour_image_finds_both_clusters():
    img = np.zeros((1, 3, 10, 10), dtype=np.float32)
    img[0, 2] = 1.0  # blue
    img[0, :, :3, :] = np.array([1.0, 0.0, 0.0], dtype=np.float32)[:, None, None]  # 30 % red
    cols = dominant_colors(img, seed=3, number_of_colors=2)[0]
    assert sorted(map(tuple, np.round(cols, 5).tolist())) == [(0.0, 0.0, 1.0), (1.0, 0.0, 0.0)]
    assert color_mask(img, seed=3).tolist() == [True]
    assert color_mask(img, seed=3, target=(0, 0, 255)).tolist() == [True]
    assert color_mask(img, seed=3, target=(0, 255, 0)).tolist() == [False]


def test_batched_kmeans_matches_naive_lloyd():
    gen = np.random.default_rng(1)
    centres_true = np.array([[0.1, 0.1, 0.1], [0.9, 0.1, 0.1], [0.1, 0.9, 0.5]])
    pts = np.concatenate([c + 0.02 * gen.standard_normal((40, 3)) for c in centres_true])[None]
    pts = np.repeat(pts, 3, axis=0)
    pts[1] = pts[1][::-1]  # same points, other order
    got = batched_kmeans(pts, 3, seed=0)
    for i in range(3):
        # naive reference: assign to the true centres, average
        lab = ((pts[i][:, None] - centres_true[None]) ** 2).sum(-1).argmin(1)
        want = np.array([pts[i][lab == j].mean(0) for j in range(3)])
        found = got[i][np.lexsort(got[i].T[::-1])]
        want = want[np.lexsort(want.T[::-1])]
        assert np.allclose(found, want, atol=1e-5)


def test_kmeans_seeded_and_chunk_independent():
    gen = np.random.default_rng(2)
    pts = gen.random((37, 64, 3)).astype(np.float32)
    before = pts.copy()
    a = batched_kmeans(pts, 4, seed=5, chunk_size=8)
    b = batched_kmeans(pts, 4, seed=5, chunk_size=37)
    c = batched_kmeans(pts, 4, seed=6, chunk_size=37)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(pts, before)
    best = batched_kmeans(pts, 4, seed=5, n_init=3)
    assert best.shape == (37, 4, 3)

    def inertia(c):
        return ((pts[:, :, None] - c[:, None]) ** 2).sum(-1).min(-1).sum(-1)

    assert (inertia(best) <= inertia(a) + 1e-4).all()  # run 0 of n_init=3 is the n_init=1 run


def test_color_mask_deterministic_and_indices():
    gen = np.random.default_rng(4)
    imgs = gen.random((20, 3, 6, 6)).astype(np.float32)
    imgs[:5, 0] = 0.95
    imgs[:5, 1:] *= 0.1
    m1 = color_mask(imgs, seed=0)
    m2 = color_mask(imgs, seed=0)
    assert np.array_equal(m1, m2) and m1[:5].all()
    idx = np.array([3, 10])
    assert color_mask(imgs, seed=0, indices=idx).shape == (2,)
    assert color_mask(imgs, seed=0, indices=idx)[0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(target=(300, 0, 0)), "target"),
        (dict(target=(1, 2)), "target"),
        (dict(threshold=0), "threshold"),
        (dict(number_of_colors=0), "number_of_colors"),
        (dict(iterations=0), "iterations"),
        (dict(tol=-1.0), "tol"),
        (dict(seed=-3), "seed"),
        (dict(n_init=0), "n_init"),
    ],
)
def test_color_mask_errors(kwargs, match):
    kwargs.setdefault("seed", 0)
    with pytest.raises(InputError, match=match):
        color_mask(_images([[1, 0, 0]]), **kwargs)


def test_color_mask_shape_error():
    with pytest.raises(InputError, match=r"\(n, 3, H, W\)"):
        color_mask(np.zeros((2, 1, 4, 4)), seed=0)


def test_red_mask_on_cifar_sample():
    env = os.environ.get("MIA_AUDIT_DATA")
    folder = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"
    if not (folder / "cifar10_jpeg.npz").is_file():
        pytest.skip("cifar10_jpeg.npz not available (set MIA_AUDIT_DATA or provide <repo>/../shared/data)")
    data = load_dataset("cifar10", data_dir=folder, limit=50)
    idx = np.arange(50)
    mask = red_mask(data, idx)
    assert mask.dtype == bool and mask.shape == (50,)
    assert np.array_equal(mask, red_mask(data, idx))
    # a selected image holds pixels near red; the mean redness of selected images is higher
    redness = data.X[:, 0] - data.X[:, 1:].mean(axis=1)  # (n, 32, 32)
    strong = (redness > 0.3).mean(axis=(1, 2))
    if mask.any() and (~mask).any():
        assert strong[:50][mask].mean() > strong[:50][~mask].mean()


def test_red_mask_wrong_dataset():
    d = Dataset(name="t", X=np.zeros((2, 4)), y=[0, 1], n_classes=2, kind="tabular")
    with pytest.raises(InputError, match="RGB image dataset"):
        red_mask(d, np.arange(2))
