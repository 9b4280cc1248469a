"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# Torch intra-op threads for the test session: ``MIA_AUDIT_TEST_THREADS`` (a positive integer,
# default 1), e.g. ``MIA_AUDIT_TEST_THREADS=2 .venv/bin/python -m pytest tests/...`` to check that
# results do not depend on the thread count (float sums split across threads round differently).
THREADS_ENV = "MIA_AUDIT_TEST_THREADS"


def torch_threads_from_env() -> int:
    """The intra-op thread count from ``$MIA_AUDIT_TEST_THREADS`` (default 1)."""
    raw = os.environ.get(THREADS_ENV, "").strip() or "1"
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise pytest.UsageError(f"{THREADS_ENV} must be a positive integer; got {raw!r}")
    return value


@pytest.fixture(scope="session", autouse=True)
def _torch_one_thread():
    """Run torch on ``$MIA_AUDIT_TEST_THREADS`` (default 1) intra-op threads for the whole
    session (restored after).

    The tests train tiny models; on a 2-core machine two spinning intra-op threads
    per tiny op make training up to 10-20x slower than one thread, hence the default.
    """
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(torch_threads_from_env())
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The shared data folder: ``$MIA_AUDIT_DATA``, else ``<repo>/../shared/data``; skips if absent."""
    env = os.environ.get("MIA_AUDIT_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"shared data directory not found: {path} (set MIA_AUDIT_DATA or provide <repo>/../shared/data)")
    return path


@pytest.fixture
def tiny_config():
    """Factory of a small, fast audit configuration (adult, 300/300, 1-layer MLP, 3 epochs)."""
    from mia_audit.config import AttackConfig, AuditConfig, DataConfig, ForgetConfig, MetricsConfig, ModelConfig

    def make(*, seed: int = 0, attacks=None, members=("train", "forget"), data=None, model=None,
             forget=None, n_bootstrap: int = 20, device: str = "cpu") -> AuditConfig:
        return AuditConfig(
            data=data or DataConfig(name="adult", train_size=300, test_size=300),
            model=model or ModelConfig(name="mlp", params={"hidden": [32]}, training={"epochs": 3}),
            forget=forget or ForgetConfig(kind="random", fraction=0.1),
            attacks=AttackConfig(names=None if attacks is None else list(attacks), members=list(members)),
            metrics=MetricsConfig(n_bootstrap=n_bootstrap),
            seed=seed,
            device=device,
        )

    return make


@pytest.fixture(scope="session", autouse=True)
def _cache_in_a_temporary_folder(tmp_path_factory):
    """Reference-model stores that a test does not place itself go to a temporary folder,
    never to the user's ~/.cache."""
    previous = os.environ.get("MIA_AUDIT_CACHE")
    os.environ["MIA_AUDIT_CACHE"] = str(tmp_path_factory.mktemp("mia-audit-cache"))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MIA_AUDIT_CACHE", None)
        else:
            os.environ["MIA_AUDIT_CACHE"] = previous
