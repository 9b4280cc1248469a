"""Reference models on Ray give the same models as the local executors (same seeds, CPU)."""

import contextlib

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from mia_audit.data import load_dataset  # noqa: E402
from mia_audit.reference import RayExecutor, train_references  # noqa: E402
from mia_audit.training import TrainRecipe  # noqa: E402


# A Ray task runs torch on int(num_cpus) intra-op threads (RayExecutor passes threads= to the
# job; 1 here), while this process runs on $MIA_AUDIT_TEST_THREADS (tests/conftest.py). Float sums
# split across threads may round differently, so the local side trains on the worker's count:
# both sides compute on the same number of threads and the bitwise comparison stays exact.
RAY_TASK_CPUS = 1


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=RAY_TASK_CPUS, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@contextlib.contextmanager
def torch_threads(n):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("batched,local", [(False, "sequential"), (True, "batched")])
def test_ray_equals_the_local_executor(local_ray, tmp_path, batched, local):
    d = load_dataset("digits")
    X, y = d.X[:200].reshape(200, -1), d.y[:200]
    options = dict(model="mlp", model_params={"hidden": [16]}, n_models=4, seed=0,
                   recipe=TrainRecipe(epochs=2, batch_size=32), device="cpu", progress=False)
    executor = RayExecutor(models_per_task=4 if batched else 2, batched=batched, num_cpus=RAY_TASK_CPUS)
    on_ray = train_references(tmp_path / "ray", X, y, executor=executor, **options)
    with torch_threads(RAY_TASK_CPUS):
        here = train_references(tmp_path / "here", X, y, executor=local, **options)
    np.testing.assert_array_equal(on_ray.signals().logit_confidence, here.signals().logit_confidence)
    for k in range(4):
        assert (tmp_path / "ray" / "models" / f"model_{k:04d}.safetensors").read_bytes() == \
            (tmp_path / "here" / "models" / f"model_{k:04d}.safetensors").read_bytes()
