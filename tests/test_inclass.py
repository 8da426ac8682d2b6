"""Tests for Problem 1 that need no solution: how the
checks in helpers/inclass.py behave (they refuse answers that are plainly wrong, pass an
unfinished exercise on as NotImplementedError, and name the error of code that crashes).

The tests that run the solved exercises, the recorded values and the typical
mistakes are in ``tests/instructor/``.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from helpers import inclass
from helpers.checks import CheckFailed
from helpers.training import History

# --- every check passes an unfinished exercise on, and names a crash ------------------------------


def _stub(number: str):
    def stub(*args, **kwargs):
        raise NotImplementedError(f"Problem {number}: not done")
    return stub


class _StubModule(nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(40, 32), nn.Linear(32, 32), nn.Linear(32, 10)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        raise NotImplementedError("Problem 1.4: implement MLP.forward")


class _StubDataset(Dataset):
    def __init__(self, x, y, mean, std):
        self.y = y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        raise NotImplementedError("Problem 1.5: implement MNIST1D.__getitem__")


@pytest.mark.parametrize("number, call", [
    ("1.1", lambda: inclass.check_pairwise_sq_dists(_stub("1.1"))),
    ("1.2", lambda: inclass.check_least_squares_grad(_stub("1.2"))),
    ("1.3", lambda: inclass.check_linear_gd(_stub("1.3"))),
    ("1.4", lambda: inclass.check_mlp_forward(_StubModule)),
    ("1.5", lambda: inclass.check_dataset(_StubDataset)),
    ("1.6", lambda: inclass.check_train_epoch(_stub("1.6"))),
    ("1.7", lambda: inclass.check_predict(_stub("1.7"))),
    ("1.8", lambda: inclass.check_save_and_load(_stub("1.8"))),
    ("1.9", lambda: inclass.check_reproducible(_stub("1.9"))),
])
def test_an_unfinished_exercise_stops_with_its_name(number, call):
    with pytest.raises(NotImplementedError, match=f"Problem {number}"):
        call()


def test_an_exception_in_student_code_becomes_a_named_fail(capsys):
    def broken(A, B):
        return A @ B  # (5, 3) @ (4, 3): shape error

    with pytest.raises(CheckFailed, match="raised RuntimeError"):
        inclass.check_pairwise_sq_dists(broken)
    assert "[FAIL] 1.1 pairwise_sq_dists: raised RuntimeError" in capsys.readouterr().out


def test_another_not_implemented_error_is_a_fail_not_a_stub():
    def meta_copy(A, B):
        raise NotImplementedError("Cannot copy out of meta tensor; no data!")

    with pytest.raises(CheckFailed, match="NotImplementedError: Cannot copy"):
        inclass.check_pairwise_sq_dists(meta_copy)


# --- plainly wrong answers fail -------------------------------------------------------------------


def test_1_1_and_1_2_refuse_zeros():
    with pytest.raises(CheckFailed, match="1.1 vs recorded"):
        inclass.check_pairwise_sq_dists(lambda A, B: torch.zeros(len(A), len(B), dtype=A.dtype))
    with pytest.raises(CheckFailed, match="1.2 vs autograd"):
        inclass.check_least_squares_grad(lambda w, X, y: torch.zeros_like(w))


def test_1_3_refuses_a_run_that_never_moves():
    def frozen(X, y, lr, num_steps):
        loss = float((y**2).mean())
        return torch.zeros(X.shape[1]), torch.zeros(()), [loss] * num_steps

    with pytest.raises(CheckFailed, match="1.3 losses at steps"):
        inclass.check_linear_gd(frozen)


def test_1_4_refuses_a_model_that_ignores_its_input():
    class Constant(_StubModule):
        def forward(self, x):
            return torch.zeros(len(x), self.fc3.out_features, dtype=x.dtype)

    with pytest.raises(CheckFailed):
        inclass.check_mlp_forward(Constant)


def test_1_5_refuses_raw_signals():
    class Raw(_StubDataset):
        def __init__(self, x, y, mean, std):
            self.x, self.y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)

        def __getitem__(self, i):
            return self.x[i], self.y[i]

    with pytest.raises(CheckFailed, match="standardised"):
        inclass.check_dataset(Raw)


def test_1_6_refuses_a_loop_that_does_nothing():
    with pytest.raises(CheckFailed, match="optimizer steps"):
        inclass.check_train_epoch(lambda model, loader, loss_fn, optimizer: 0.0)


def test_1_7_refuses_zeros_and_1_8_refuses_a_fresh_model():
    with pytest.raises(CheckFailed):
        inclass.check_predict(lambda model, X: torch.zeros(len(X), 3))
    with pytest.raises(CheckFailed):
        inclass.check_save_and_load(lambda model, make_model, path: make_model())


@pytest.mark.parametrize("run", [
    lambda seed: 2.3,  # the same number for every seed
    lambda seed: 2.3 + float(torch.rand(())) / 10,  # never the same number
    lambda seed: float("nan"),
    lambda seed: float(seed),  # repeatable, but not a loss
])
def test_1_9_refuses_runs_that_are_not_reproducible(run):
    with pytest.raises(CheckFailed):
        inclass.check_reproducible(run)


# --- the fixed inputs of the checks -------------------------------------------------------------


def test_fixed_inputs_are_exact_and_machine_independent():
    x = inclass.mlp_check_input()
    assert x.dtype == torch.float64 and x.shape == (6, 5)
    assert torch.equal(x * 4, (x * 4).round()), "multiples of 1/4: exact in float64"
    mask = inclass.dropout_check_mask()
    assert set(mask.unique().tolist()) == {0.0, 2.0} and mask.shape == (6, 4)
    assert 0.3 < float((mask == 0).double().mean()) < 0.5  # like dropout with p = 0.5


def test_fixed_dropout_masks_in_training_mode_only():
    drop = inclass.FixedDropout()
    h = torch.ones(6, 4, dtype=torch.float64)
    assert torch.equal(drop(h), inclass.dropout_check_mask())
    drop.eval()
    assert torch.equal(drop(h), h)
    assert drop.seen == [(6, 4), (6, 4)]


def test_epoch_check_starts_in_eval_mode_with_an_uneven_last_batch():
    model, loader, loss_fn, optimizer = inclass.epoch_check_setup()
    assert not model.training
    assert [len(X) for X, _ in loader] == [32, 32, 32, 4]
    assert all(p.dtype == torch.float64 for p in model.parameters())
    again = inclass.epoch_check_setup()[0]
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), again.parameters()))


def test_device_probe_refuses_an_input_elsewhere():
    probe = inclass.DeviceProbe("meta")
    with pytest.raises(RuntimeError, match="meta"):
        probe(torch.zeros(2, 5))
    assert probe.calls == [("cpu", torch.float32, True, True)]


def test_the_recording_of_torch_load_is_undone():
    original = torch.load
    with inclass._recording_torch_load() as calls:
        assert torch.load is not original
    assert torch.load is original and calls == []


# --- the story checks -----------------------------------------------------------------------------


def test_check_linear_three_ways():
    ls = torch.tensor([1.0, -2.0, 3.0, 0.5], dtype=torch.float64)
    figures = inclass.check_linear_three_ways(ls + 1e-4, ls.float(), ls)
    assert figures["linear_three_ways_max_abs_diff"] == pytest.approx(1e-4)
    with pytest.raises(CheckFailed, match="nn.Linear"):
        inclass.check_linear_three_ways(ls, ls + 0.01, ls)


def test_check_adam_beats_chance():
    history = History(val_accuracy=[0.1, 0.55])
    inclass.check_adam_beats_chance(history, quick=False)
    with pytest.raises(CheckFailed):
        inclass.check_adam_beats_chance(History(val_accuracy=[0.35]), quick=False)
    inclass.check_adam_beats_chance(History(val_accuracy=[0.2]), quick=True)
    with pytest.raises(CheckFailed):
        inclass.check_adam_beats_chance(History(val_accuracy=[0.12]), quick=True)


def test_check_same_predictions():
    out = torch.randn(4, 10)
    inclass.check_same_predictions(out.clone(), out)
    with pytest.raises(CheckFailed, match="different outputs"):
        inclass.check_same_predictions(out + 1e-7, out)


def test_linear_data_and_lstsq():
    X, y = inclass.linear_data()
    assert X.shape == (200, 3) and y.shape == (200,) and X.dtype == torch.float32
    w, b = inclass.lstsq_with_bias(X, y)
    assert np.allclose(w.numpy(), [1.0, -2.0, 3.0], atol=0.05) and abs(float(b) - 0.5) < 0.05


def test_a_comparison_prints_enough_digits_to_tell_its_two_numbers_apart(capsys):
    """A loss that fell from 2.2912 to 2.2891 must not read "2.29 < 2.29"."""
    from helpers import checks

    checks.check_less("one step", 2.2891, 2.2912, what="loss after one step")
    checks.check_greater("gain", 5.0, 0, what="points")
    printed = capsys.readouterr().out
    assert "loss after one step 2.289 < 2.291" in printed
    assert "points 5 > 0" in printed  # no digits where none are needed
