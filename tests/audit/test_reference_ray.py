"""Reference models on Ray give the same models as the local executors (same seeds, CPU)."""

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from audit.data import load_dataset  # noqa: E402
from audit.reference import RayExecutor, train_references  # noqa: E402
from audit.training import TrainRecipe  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.parametrize("batched,local", [(False, "sequential"), (True, "batched")])
def test_ray_equals_the_local_executor(local_ray, tmp_path, batched, local):
    d = load_dataset("digits")
    X, y = d.X[:200].reshape(200, -1), d.y[:200]
    options = dict(model="mlp", model_params={"hidden": [16]}, n_models=4, seed=0,
                   recipe=TrainRecipe(epochs=2, batch_size=32), device="cpu", progress=False)
    on_ray = train_references(tmp_path / "ray", X, y, executor=RayExecutor(models_per_task=4 if batched else 2, batched=batched),
                              **options)
    here = train_references(tmp_path / "here", X, y, executor=local, **options)
    np.testing.assert_array_equal(on_ray.signals().logit_confidence, here.signals().logit_confidence)
    for k in range(4):
        assert (tmp_path / "ray" / "models" / f"model_{k:04d}.safetensors").read_bytes() == \
            (tmp_path / "here" / "models" / f"model_{k:04d}.safetensors").read_bytes()
