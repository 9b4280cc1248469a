"""Reference-model stores: the mask, the files, resuming after a crash, refusing a mismatch."""

import io
import json
import re

import numpy as np
import pytest
import torch

from mia_audit.adapters import TorchAdapter
from mia_audit.data import load_dataset
from mia_audit.errors import DataFileError, InputError
from mia_audit.reference import (Executor, ProcessExecutor, QuerySet, ReferenceStore, SequentialExecutor, augment,
                             make_executor, membership_mask, query_signals, train_references)
from mia_audit.reference.build import make_spec
from mia_audit.training import TrainRecipe

RECIPE = TrainRecipe(epochs=2, batch_size=32)


@pytest.fixture(scope="module")
def pool():
    d = load_dataset("digits")
    return d.X[:300].reshape(300, -1), d.y[:300]


def train(path, X, y, **changes):
    options = dict(model="mlp", model_params={"hidden": [16]}, n_models=4, seed=0, recipe=RECIPE, device="cpu",
                   progress=False)
    options.update(changes)
    return train_references(path, X, y, **options)


class Crash(Executor):
    """Runs the sequential loop, then fails after ``after`` models (a killed run)."""

    def __init__(self, after):
        self.after = after
        self.trained = []

    def run(self, spec, X, y, mask, indices, *, device, tick=None):
        for result in SequentialExecutor().run(spec, X, y, mask, indices, device=device, tick=tick):
            if len(self.trained) == self.after:
                raise RuntimeError("killed")
            self.trained.append(result.index)
            yield result


def test_mask_is_balanced_complementary_and_seeded():
    for n in (10, 11):
        mask = membership_mask(6, n, 3)
        assert mask.dtype == bool and mask.shape == (6, n)
        np.testing.assert_array_equal(mask.sum(axis=0), 3)  # every record IN for exactly K/2 models
        assert set(mask.sum(axis=1)) <= {n // 2, n - n // 2}
        np.testing.assert_array_equal(mask[0::2], ~mask[1::2])  # complementary pairs
        np.testing.assert_array_equal(mask, membership_mask(6, n, 3))
        assert not np.array_equal(mask, membership_mask(6, n, 4))
    odd = membership_mask(8, 11, 0).sum(axis=1)
    assert sorted(odd.tolist()) == [5] * 4 + [6] * 4
    with pytest.raises(InputError, match="n_models must be an even integer >= 2"):
        membership_mask(5, 10, 0)


def test_store_layout_and_contents(pool, tmp_path):
    X, y = pool
    store = train(tmp_path / "refs", X, y)
    assert store.is_complete and store.n_models == 4 and store.n_records == 300
    meta = json.loads((tmp_path / "refs" / "meta.json").read_text())
    assert meta["format_version"] == 2 and meta["spec"]["recipe"]["epochs"] == 2
    assert meta["spec"]["architecture"] == "mlp" and meta["spec"]["params"] == {"hidden": [16]}
    assert meta["data"]["n"] == 300 and len(meta["data"]["X_sha256"]) == 64 and len(meta["seeds"]) == 4
    np.testing.assert_array_equal(np.load(tmp_path / "refs" / "mask.npy"), store.mask)
    assert sorted(p.name for p in (tmp_path / "refs" / "models").iterdir()) == [
        f"model_{k:04d}.safetensors" for k in range(4)]
    assert not list((tmp_path / "refs").rglob("*.tmp"))
    signals = store.signals()
    assert signals.logit_confidence.shape == (4, 300, 1) and signals.confidence.dtype == np.float32
    # the stored signals are those of the stored weights
    model = store.load_model(2)
    again = query_signals(TorchAdapter(model), X, y, QuerySet())
    np.testing.assert_allclose(again.logit_confidence, signals.logit_confidence[2], rtol=1e-6)
    info = store.model_info(2)
    assert len(info["history"]) == 2 and info["device"] == "cpu" and info["weights_format"] == "safetensors"


def test_resume_after_a_crash_trains_only_the_missing_models(pool, tmp_path):
    X, y = pool
    crash = Crash(after=2)
    with pytest.raises(RuntimeError, match="killed"):
        train(tmp_path / "refs", X, y, executor=crash)
    store = ReferenceStore(tmp_path / "refs")
    assert store.completed() == [0, 1] and store.pending() == [2, 3]
    with pytest.raises(InputError, match="incomplete: 2 of 4 models"):
        store.signals()
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "refs").rglob("model_000[01].*")}
    resume = Crash(after=99)
    store = train(tmp_path / "refs", X, y, executor=resume)
    assert resume.trained == [2, 3] and store.is_complete
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "refs").rglob("model_000[01].*")} == stamps
    # the same models as an uninterrupted run (same seeds, CPU: bitwise)
    fresh = train(tmp_path / "fresh", X, y, executor="sequential")
    np.testing.assert_array_equal(store.signals().logit_confidence, fresh.signals().logit_confidence)
    # a complete store is returned without running the executor at all
    idle = Crash(after=0)
    train(tmp_path / "refs", X, y, executor=idle)
    assert idle.trained == []


def test_a_store_for_other_settings_is_refused(pool, tmp_path):
    X, y = pool
    train(tmp_path / "refs", X, y)
    with pytest.raises(InputError, match=r"other settings \(spec.recipe.epochs: stored 2, requested 3"):
        train(tmp_path / "refs", X, y, recipe=RECIPE.replace(epochs=3))
    with pytest.raises(InputError, match="spec.params.hidden: stored \\[16\\], requested \\[32\\]"):
        train(tmp_path / "refs", X, y, model_params={"hidden": [32]})
    with pytest.raises(InputError, match="spec.n_models: stored 4, requested 6"):
        train(tmp_path / "refs", X, y, n_models=6)
    with pytest.raises(InputError, match="spec.seed: stored 0, requested 1"):
        train(tmp_path / "refs", X, y, seed=1)
    other = X.copy()
    other[5, 3] += 0.5
    with pytest.raises(InputError, match="data.X_sha256"):
        train(tmp_path / "refs", other, y)
    with pytest.raises(InputError, match="spec.architecture: stored 'mlp', requested 'cnn'"):
        train(tmp_path / "refs", X.reshape(300, 1, 8, 8), y, model="cnn", model_params={})
    with pytest.raises(InputError, match="differ from the pool"):
        ReferenceStore(tmp_path / "refs").check_data(other, y)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="exists and is not an empty directory nor a reference store"):
        train(tmp_path / "junk", X, y)
    with pytest.raises(DataFileError, match="meta.json not found"):
        ReferenceStore(tmp_path / "junk")


def test_a_tampered_mask_is_refused(pool, tmp_path):
    X, y = pool
    store = train(tmp_path / "refs", X, y)
    mask = store.mask.copy()
    mask[0, 0] = ~mask[0, 0]
    np.save(tmp_path / "refs" / "mask.npy", mask)
    with pytest.raises(InputError, match="does not match the mask of its seed"):
        ReferenceStore(tmp_path / "refs")


def test_xgboost_references_in_worker_processes_equal_the_plain_loop(pool, tmp_path):
    X, y = pool
    options = dict(model="xgboost", model_params={"n_estimators": 5, "max_depth": 2}, recipe=None, n_models=2)
    parallel = train(tmp_path / "p", X, y, executor=ProcessExecutor(n_jobs=2), **options)
    plain = train(tmp_path / "s", X, y, executor="sequential", **options)
    np.testing.assert_array_equal(parallel.signals().confidence, plain.signals().confidence)
    assert (tmp_path / "p" / "models" / "model_0001.ubj").is_file()
    model = parallel.load_model(1)
    np.testing.assert_allclose(model.predict_proba(X[:5]), plain.load_model(1).predict_proba(X[:5]))


def test_image_queries_flip_and_shift():
    x = np.arange(2 * 1 * 3 * 3, dtype=np.float32).reshape(2, 1, 3, 3)
    np.testing.assert_array_equal(augment(x, True, 0, 0), x[..., ::-1])
    down_right = augment(x, False, 1, 1)
    np.testing.assert_array_equal(down_right[0, 0], [[0, 0, 0], [0, 0, 1], [0, 3, 4]])
    up_left = augment(x, False, -1, -1)
    np.testing.assert_array_equal(up_left[0, 0], [[4, 5, 0], [7, 8, 0], [0, 0, 0]])
    assert QuerySet.for_data((5, 1, 8, 8)).n_queries((5, 1, 8, 8)) == 18
    assert QuerySet.for_data((5, 64)).n_queries((5, 64)) == 1
    assert QuerySet.for_data((5, 1, 8, 8), {"flip": True}).n_queries((5, 1, 8, 8)) == 2
    with pytest.raises(InputError, match="queries.shift must be an integer >= 0; got -1"):
        QuerySet(shift=-1)
    with pytest.raises(InputError, match="queries: unknown key 'mirror'"):
        QuerySet.for_data((5, 1, 8, 8), {"mirror": True})


def _reflect_shift_naive(img, dy, dx):
    """(H, W) image moved by (dy, dx) with the border reflected in, one pixel at a time."""
    H, W = img.shape

    def mirror(i, n):  # numpy / TensorFlow "reflect": -1 -> 1, n -> n - 2
        return -i if i < 0 else (2 * (n - 1) - i if i >= n else i)

    return np.array([[img[mirror(r - dy, H), mirror(c - dx, W)] for c in range(W)] for r in range(H)])


def test_reflect_padded_queries_match_a_naive_loop_and_the_reference_codes_crops():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2, 5, 6)).astype(np.float32)
    for dy, dx in [(1, 1), (-1, 1), (0, -2), (2, 0), (-2, -2)]:
        got = augment(x, False, dy, dx, "reflect")
        for n in range(3):
            for c in range(2):
                np.testing.assert_array_equal(got[n, c], _reflect_shift_naive(x[n, c], dy, dx))
    # mi_lira_2021's 9 crops of the 1-pixel reflect-padded image are the 9 shifts by -1, 0, 1
    padded = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)], mode="reflect")
    crops = {padded[..., a:a + 5, b:b + 6].tobytes() for a in range(3) for b in range(3)}
    ours = {augment(x, False, dy, dx, "reflect").tobytes() for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    assert ours == crops
    np.testing.assert_array_equal(augment(x, True, 0, 0, "reflect"), x[..., ::-1])  # no shift: padding moot
    with pytest.raises(InputError, match="smaller than the image"):
        augment(x, False, 5, 0, "reflect")


def test_query_padding_follows_the_training_augmentation():
    shape = (5, 3, 32, 32)
    assert QuerySet.for_data(shape, augment="flip-translate") == QuerySet(flip=True, shift=1, pad="reflect")
    assert QuerySet.for_data(shape, augment="flip-crop") == QuerySet(flip=True, shift=1, pad="zero")
    assert QuerySet.for_data(shape) == QuerySet(flip=True, shift=1, pad="zero")  # unknown training: zeros
    assert QuerySet.for_data((5, 64), augment="flip-translate") == QuerySet()
    # a store's record of zero-padded queries is what it was before queries had a padding
    assert QuerySet(flip=True, shift=1).to_dict() == {"flip": True, "shift": 1}
    assert QuerySet(flip=True, shift=1, pad="reflect").to_dict() == {"flip": True, "shift": 1, "pad": "reflect"}
    with pytest.raises(InputError, match="queries.pad must be one of 'zero', 'reflect'; got 'wrap'"):
        QuerySet.for_data(shape, {"flip": True, "pad": "wrap"})


def test_airnet_reference_specs_query_with_reflection():
    from mia_audit.reference.build import make_spec
    from mia_audit.training import recipe_for

    X, y = np.zeros((4, 3, 32, 32), np.float32), np.arange(4) % 2
    spec = make_spec(X, y, model="airnet", n_models=2, seed=0)
    assert spec.recipe.augment == "flip-translate" and spec.queries.pad == "reflect"
    spec = make_spec(X, y, model="resnet18", n_models=2, seed=0, recipe=recipe_for("resnet18", "image"))
    assert spec.queries.pad == "zero"


def test_images_store_per_query_signals(tmp_path):
    d = load_dataset("digits")
    X, y = d.X[:120], d.y[:120]
    store = train_references(tmp_path / "img", X, y, model="cnn", model_params={"channels": [4], "hidden": 16},
                             n_models=2, seed=0, recipe=RECIPE, device="cpu", queries={"flip": True, "shift": 1},
                             progress=False)
    lc = store.signals().logit_confidence
    assert lc.shape == (2, 120, 18)
    assert not np.allclose(lc[:, :, 0], lc[:, :, 9])  # the flipped queries differ


def test_bad_inputs_name_the_parameter(pool, tmp_path):
    X, y = pool
    with pytest.raises(InputError, match="n_models must be an even integer >= 2"):
        train(tmp_path / "a", X, y, n_models=3)
    with pytest.raises(InputError, match="y_pool must be a 1-D array with one label per row"):
        train(tmp_path / "a", X, y[:10])
    with pytest.raises(InputError, match="executor must be one of auto, sequential, batched, process, ray"):
        train(tmp_path / "a", X, y, executor="threads")
    with pytest.raises(InputError, match="model must be one of"):
        train(tmp_path / "a", X, y, model="svm")
    with pytest.raises(InputError, match="recipe must be None for xgboost"):
        train(tmp_path / "a", X, y, model="xgboost", model_params={})
    with pytest.raises(InputError, match="ray_address is given but executor is 'batched'"):
        make_executor("batched", make_spec(X, y, model="mlp", n_models=2, seed=0), ray_address="auto")
    with pytest.raises(InputError, match="chunk_size must be a positive integer"):
        from mia_audit.reference import BatchedExecutor

        BatchedExecutor(chunk_size=0)


def test_auto_executor_batches_convolutions_only_on_a_gpu(pool):
    from mia_audit.reference import BatchedExecutor

    X, y = pool
    images = np.zeros((8, 1, 8, 8), np.float32)
    mlp = make_spec(X, y, model="mlp", n_models=2, seed=0)
    cnn = make_spec(images, np.arange(8) % 2, model="cnn", n_models=2, seed=0)
    assert isinstance(make_executor("auto", mlp, device="cpu"), BatchedExecutor)
    assert isinstance(make_executor("auto", mlp), BatchedExecutor)
    assert isinstance(make_executor("auto", cnn, device="cpu"), SequentialExecutor)  # grouped convs are slower there
    assert isinstance(make_executor("auto", cnn, device="cuda"), BatchedExecutor)
    assert isinstance(make_executor("batched", cnn, device="cpu"), BatchedExecutor)  # asked for: as asked


def test_missing_ray_names_the_extra(pool, tmp_path):
    try:
        import ray  # noqa: F401

        pytest.skip("ray is installed")
    except ImportError:
        pass
    X, y = pool
    with pytest.raises(InputError, match='pip install "mia-audit\\[ray\\]"'):
        train(tmp_path / "r", X, y, ray_address="auto")


def test_global_torch_rng_is_untouched(pool, tmp_path):
    X, y = pool
    state = torch.get_rng_state()
    train(tmp_path / "g", X, y, n_models=2)
    assert torch.equal(state, torch.get_rng_state())


# ---------------------------------------------------------------------------- digests: nothing damaged is used


@pytest.fixture(scope="module")
def built(pool, tmp_path_factory):
    """A complete 6-model store, trained once; tests tamper with copies of it."""
    X, y = pool
    path = tmp_path_factory.mktemp("built") / "refs"
    train(path, X, y, n_models=6)
    return path


@pytest.fixture
def copy(built, tmp_path):
    import shutil

    shutil.copytree(built, tmp_path / "refs")
    return tmp_path / "refs"


def refused(call, *patterns):
    """``call()`` raises one DataFileError, one line, whose message matches every pattern."""
    with pytest.raises(DataFileError) as info:
        call()
    text = str(info.value)
    assert "\n" not in text and "Traceback" not in text, text
    for pattern in patterns:
        assert re.search(pattern, text), (pattern, text)
    return text


def data_offset(path):
    return 8 + int.from_bytes(path.read_bytes()[:8], "little")


def test_flipped_bytes_in_a_signals_file_are_refused(copy):
    clean = ReferenceStore(copy).signals().logit_confidence
    path = copy / "signals" / "model_0002.safetensors"
    data = bytearray(path.read_bytes())
    start = data_offset(path) + 200  # inside logit_confidence: the file still parses
    data[start:start + 16] = bytes(b ^ 0xFF for b in data[start:start + 16])
    path.write_bytes(bytes(data))
    store = ReferenceStore(copy)
    refused(store.signals, r"signals/model_0002\.safetensors does not match its sha256", "delete it to train model 2")
    refused(lambda: store.model_info(2), "model_0002.safetensors does not match its sha256")
    refused(lambda: store.load_model(2), "model_0002.safetensors does not match its sha256")
    np.testing.assert_array_equal(store.signals([0, 1, 3]).logit_confidence, clean[[0, 1, 3]])  # the others still read


def test_edited_metadata_of_a_signals_file_is_refused(copy):
    path = copy / "signals" / "model_0001.safetensors"
    data = path.read_bytes()
    assert b'"device":"cpu"' in data
    path.write_bytes(data.replace(b'"device":"cpu"', b'"device":"gpu"'))  # same length: the header still parses
    refused(lambda: ReferenceStore(copy).model_info(1), "model_0001.safetensors does not match its sha256")


def test_swapped_models_are_refused(copy):
    store = ReferenceStore(copy)
    for folder in ("signals", "models"):
        a, b = copy / folder / "model_0003.safetensors", copy / folder / "model_0004.safetensors"
        tmp = a.with_suffix(".swap")
        a.rename(tmp), b.rename(a), tmp.rename(b)
    refused(store.signals, r"model_0003\.safetensors holds the signals of model 4, not of model 3", "swapped")
    refused(lambda: store.signals([4]), "holds the signals of model 3, not of model 4")
    # weights swapped back alone: the signals are right, the weights are model 4's
    for folder in ("signals",):
        a, b = copy / folder / "model_0003.safetensors", copy / folder / "model_0004.safetensors"
        tmp = a.with_suffix(".swap")
        a.rename(tmp), b.rename(a), tmp.rename(b)
    assert store.signals([3, 4]).logit_confidence.shape == (2, 300, 1)
    refused(lambda: store.load_model(3), r"models/model_0003\.safetensors does not match the sha256 recorded in",
            "delete it to train model 3")


def test_a_signals_file_from_another_store_is_refused(copy, pool, tmp_path):
    X, y = pool
    other = train(tmp_path / "other", X, y, n_models=6, seed=1)  # other seed, same shapes
    (copy / "signals" / "model_0000.safetensors").write_bytes(
        (other.path / "signals" / "model_0000.safetensors").read_bytes())
    refused(ReferenceStore(copy).signals, "model_0000.safetensors belongs to another reference store")


@pytest.mark.parametrize("keep", [0, 5, 8, 40, "header", "data"])
def test_truncated_signals_files_are_refused(copy, keep):
    path = copy / "signals" / "model_0005.safetensors"
    data = path.read_bytes()
    cut = {"header": data_offset(path) - 10, "data": data_offset(path) + 100}.get(keep, keep)
    path.write_bytes(data[:cut])
    refused(ReferenceStore(copy).signals, r"model_0005\.safetensors is damaged \(not a readable safetensors file",
            "delete it to train model 5")


def test_signals_of_the_wrong_shape_are_refused(copy):
    from safetensors import safe_open
    from safetensors.numpy import save

    from mia_audit.reference.store import signals_sha256

    store = ReferenceStore(copy)
    path = copy / "signals" / "model_0001.safetensors"
    with safe_open(str(path), framework="numpy") as f:
        info = f.metadata()
    wide = {"logit_confidence": np.zeros((300, 2), np.float32), "confidence": np.zeros((300, 2), np.float32)}
    forged = {**info, "sha256": signals_sha256(wide, info)}  # a file that is consistent, but of the wrong shape
    path.write_bytes(save(wide, metadata=forged))
    refused(store.signals, r"logit_confidence must be float32 of shape \(300, 1\); got float32 of shape \(300, 2\)")
    path.write_bytes(save({"logit_confidence": np.zeros((300, 1), np.float64),
                           "confidence": np.zeros((300, 1), np.float64)}, metadata={"index": "1"}))
    refused(store.signals, "model_0001.safetensors has no content digest")


def test_a_damaged_or_edited_mask_is_refused_and_rebuilt_when_deleted(copy):
    path = copy / "mask.npy"
    good = path.read_bytes()
    path.write_bytes(good.replace(b"'descr'", b"'dxscr'"))  # a damaged header
    refused(lambda: ReferenceStore(copy), r"mask\.npy is damaged \(not a readable \.npy array", "rebuilt from the seed")
    path.write_bytes(good[:20])
    refused(lambda: ReferenceStore(copy), r"mask\.npy is damaged")
    np.save(path, np.load(io.BytesIO(good)).astype(np.int8))  # the same 0/1 values, another dtype
    refused(lambda: ReferenceStore(copy), r"mask\.npy does not match its sha256 in meta\.json")
    path.unlink()
    store = ReferenceStore(copy)  # a missing mask is rebuilt from the seed
    assert path.read_bytes() == good and store.is_complete


def test_an_edited_meta_json_or_an_old_format_is_refused(copy):
    path = copy / "meta.json"
    meta = json.loads(path.read_text())
    edited = {**meta, "seeds": meta["seeds"][::-1]}
    path.write_text(json.dumps(edited))
    refused(lambda: ReferenceStore(copy), r"meta\.json does not match its sha256", "delete the store folder")
    path.write_text(json.dumps({**meta, "format_version": 1}))
    with pytest.raises(InputError, match="format_version must be 2 .*got 1: delete the folder and train again"):
        ReferenceStore(copy)


def test_missing_files_are_retrained_and_stale_temp_files_swept(copy, pool):
    X, y = pool
    before = ReferenceStore(copy).signals().logit_confidence
    (copy / "signals" / "model_0001.safetensors").unlink()
    (copy / "models" / "model_0004.safetensors").unlink()
    stale = [copy / "signals" / ".model_0002.safetensors.0123456789ab.tmp", copy / "models" / ".model_0003.safetensors.ba9876543210.tmp"]
    for p in stale:
        p.write_bytes(b"half a file")
    keep = copy / "signals" / "notes.tmp"  # not a name the atomic writer makes
    keep.write_text("mine")
    assert ReferenceStore(copy).pending() == [1, 4]
    resume = Crash(after=99)
    store = train(copy, X, y, n_models=6, executor=resume)
    assert resume.trained == [1, 4] and store.is_complete
    assert not any(p.exists() for p in stale) and keep.exists()
    after = store.signals().logit_confidence
    kept = [k for k in range(6) if k not in (1, 4)]
    np.testing.assert_array_equal(after[kept], before[kept])  # read back from the files untouched
    # retrained one by one where the store was built batched ("auto"): the same models to rounding
    # (a batched product adds in another order; bitwise only on some CPUs)
    np.testing.assert_allclose(after[[1, 4]], before[[1, 4]], rtol=1e-5, atol=1e-5)
