"""The thread policy: mia_audit.threads (choice, counting, the context managers, --threads)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from torch import nn

from mia_audit import threads
from mia_audit.threads import (MACS_PER_THREAD, SMALL_BATCH_MACS, batch_macs, choose_threads, explicit_threads,
                           threads_arg, training_threads, use_threads)


@pytest.mark.parametrize("macs, default, explicit, expected", [
    (None, 2, None, 2),                        # unknown work: torch's default
    (0, 2, None, 1),
    (3_932_416, 2, None, 1),                   # the quick demo's MLP 128-128, batch 128
    (192_942_080, 2, None, 1),                 # 16 batched reference MLPs 256-256
    (SMALL_BATCH_MACS - 1, 16, None, 1),       # the largest one-thread model
    (SMALL_BATCH_MACS, 16, None, 2),
    (10 * MACS_PER_THREAD, 16, None, 10),
    (290_000_000_000, 16, None, 16),           # a ResNet-18 batch of 512: never above the default
    (290_000_000_000, 1, None, 1),
    (3_932_416, 2, 2, 2),                      # the user's count wins, either way
    (290_000_000_000, 16, 1, 1),
])
def test_choose_threads_golden(macs, default, explicit, expected):
    assert choose_threads(macs, default=default, explicit=explicit) == expected


def test_batch_macs_counts_weights_times_positions():
    mlp = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))   # 15 + 8 weights, used once per record
    assert batch_macs(mlp, torch.zeros(5, 4), 10) == 23 * 10
    conv = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(32, 2))  # 20 weights x 16 positions
    assert batch_macs(conv, torch.zeros(1, 1, 4, 4), 3) == (20 * 16 + 66) * 3
    lstm = nn.LSTM(input_size=2, hidden_size=3, batch_first=True)  # every weight once per time step
    n = sum(p.numel() for p in lstm.parameters())
    assert batch_macs(lstm, torch.zeros(1, 7, 2), 1) == n * 7


def test_batch_macs_leaves_mode_weights_and_rng_alone():
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2))
    net.train()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    assert batch_macs(net, torch.ones(3, 4), 2) > 0
    assert net.training and all(m.training for m in net.modules())
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state())


def test_batch_macs_of_a_model_that_cannot_run_is_none():
    assert batch_macs(nn.Linear(4, 2), torch.zeros(1, 5), 8) is None


def test_use_threads_sets_and_restores_the_count():
    before = torch.get_num_threads()
    other = 2 if before == 1 else 1
    with use_threads(other):
        assert torch.get_num_threads() == other
        assert explicit_threads() == other      # pinned: the training loops leave it alone
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with use_threads(other):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with use_threads(None):
        assert torch.get_num_threads() == before


def test_use_threads_refuses_a_count_below_one():
    with pytest.raises(ValueError, match="threads"):
        with use_threads(0):
            pass


@pytest.fixture
def default_two_threads(monkeypatch):
    """torch at 2 threads with 2 'physical cores' and no thread variables: the policy's own case."""
    for name in threads.THREAD_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "physical_cores", lambda: 2)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_training_threads_uses_one_thread_for_a_small_model_and_restores(default_two_threads):
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    assert explicit_threads() is None
    with training_threads(net, torch.zeros(1, 4), 128):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_training_threads_respects_the_users_count(default_two_threads, monkeypatch):
    net = nn.Linear(4, 2)
    with use_threads(2):                     # --threads 2 / use_threads
        with training_threads(net, torch.zeros(1, 4), 128):
            assert torch.get_num_threads() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert explicit_threads() == 2
    with training_threads(net, torch.zeros(1, 4), 128):
        assert torch.get_num_threads() == 2
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(threads, "physical_cores", lambda: 4)  # torch.set_num_threads(2) away from the default
    assert explicit_threads() == 2
    with training_threads(net, torch.zeros(1, 4), 128):
        assert torch.get_num_threads() == 2


def test_train_model_trains_small_models_on_one_thread_and_restores_the_count(default_two_threads):
    from mia_audit.training import TrainRecipe, train_model

    gen = np.random.default_rng(0)
    X = gen.normal(size=(200, 6)).astype(np.float32)
    y = np.arange(200) % 2
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    recipe = TrainRecipe(epochs=2, batch_size=32)
    a = train_model(net, X, y, recipe, seed=3, device="cpu")
    assert torch.get_num_threads() == 2
    with use_threads(1):
        b = train_model(net, X, y, recipe, seed=3, device="cpu")
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("text", ["0", "-1", "x", "1.5", "", str(threads.MAX_THREADS + 1)])
def test_threads_arg_refuses_bad_values(text):
    with pytest.raises(argparse.ArgumentTypeError, match="integer from 1"):
        threads_arg(text)


def test_threads_arg_accepts_counts():
    assert threads_arg("1") == 1 and threads_arg(" 4") == 4


def test_run_audit_runs_a_small_model_on_one_thread_and_restores(default_two_threads, tiny_config, monkeypatch):
    import mia_audit.run.pipeline as runner
    seen = []
    real = runner.membership_signals

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "membership_signals", recording)
    runner.run_audit(tiny_config(attacks=["loss"]))
    assert seen == [1] and torch.get_num_threads() == 2
    seen.clear()
    with use_threads(2):                      # the user's count holds for the whole audit
        runner.run_audit(tiny_config(attacks=["loss"]))
    assert seen == [2] and torch.get_num_threads() == 2


def test_nested_policy_blocks_restore_in_order(default_two_threads):
    small = nn.Linear(4, 2)
    with training_threads(small, torch.zeros(1, 4), 8):
        assert torch.get_num_threads() == 1 and explicit_threads() is None   # the policy's own count
        with training_threads(small, torch.zeros(1, 4), 8):
            assert torch.get_num_threads() == 1
        torch.set_num_threads(2)              # someone inside changed it: that is theirs
        assert explicit_threads() == 2
    assert torch.get_num_threads() == 2
