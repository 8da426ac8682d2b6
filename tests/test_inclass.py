"""Tests for Problem 1: the notebook's structure, its solved exercises, and the checks in helpers/inclass.py.

The exercise solutions live in the notebook (the blank copy hides them), so the
tests execute the notebook's solved exercise cells in a small namespace and run
each check on them. Every check must also FAIL on a deliberately wrong answer.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from helpers import exercises, inclass, paths
from helpers.checks import CheckFailed
from helpers.runtime import seed_everything

NOTEBOOK = paths.NOTEBOOKS / "01_inclass_pytorch.ipynb"
EXERCISES = [f"Problem 1.{i}" for i in range(1, 10)]


def _notebook() -> dict:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _namespace() -> dict:
    """What the exercise cells use from the notebook's earlier cells, on small data."""
    rng = np.random.default_rng(0)
    X_lin, y_lin = inclass.linear_data()
    x = rng.normal(size=(600, 40))
    return {
        "torch": torch, "nn": nn, "np": np, "DataLoader": DataLoader, "Dataset": Dataset,
        "seed_everything": seed_everything, "X_lin": X_lin, "y_lin": y_lin,
        "mnist": {"x": x, "y": rng.integers(0, 10, size=600)}, "train_idx": np.arange(600),
        "x_mean": x.mean(axis=0), "x_std": x.std(axis=0),
    }


@pytest.fixture(scope="module")
def solved() -> dict:
    """The notebook's solved exercise cells, executed in order in one namespace."""
    nb = _notebook()
    ns = _namespace()
    cells = sorted({r.cell for r in exercises.find_regions(nb) if r.kind == "code"})
    for index in cells:
        exec(compile(_source(nb["cells"][index]), f"cell {index}", "exec"), ns)  # noqa: S102
    return ns


# --- the notebook's structure -------------------------------------------------------------------


def test_notebook_conventions():
    nb = _notebook()
    assert nb["metadata"]["kernelspec"] == {"name": "dl2-workbook", "display_name": "Python 3 (DL II workbook)",
                                            "language": "python"}
    assert nb["metadata"]["title"] == "Problem 1: An introduction to PyTorch"
    first, params = nb["cells"][0], nb["cells"][1]
    assert first["cell_type"] == "markdown" and _source(first).startswith("# Problem 1: ")
    assert params["metadata"].get("tags") == ["parameters"]
    assert [ln for ln in _source(params).splitlines() if not ln.startswith("#")] == [
        "quick = False", "seed = 0", 'device = "auto"']
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
            assert _source(cell).startswith("#"), "every code cell starts with a comment"


def test_every_exercise_is_a_region_with_a_check_after_it():
    nb = _notebook()
    regions = [r for r in exercises.find_regions(nb) if r.kind == "code"]
    assert [r.name.split(":")[0] for r in regions] == EXERCISES
    for region in regions:
        number = region.name.split(":")[0].removeprefix("Problem ")
        later = "".join(_source(c) for c in nb["cells"][region.cell + 1:] if c["cell_type"] == "code")
        assert re.search(rf"# check {re.escape(number)}\b", later), f"no check cell after {region.name}"
        region_text = "\n".join(_source(nb["cells"][region.cell]).splitlines()[region.start:region.end + 1])
        assert "check_" not in region_text, "a check must not sit inside a solution region"
    answers = [r.name for r in exercises.find_regions(nb) if r.kind == "answer"]
    assert answers == ["Question 1.4", "Question 1.9"]


def test_code_lines_fit_the_pdf():
    for cell in _notebook()["cells"]:
        if cell["cell_type"] == "code":
            for line in _source(cell).splitlines():
                assert len(line) <= 90, line


def test_blank_copy_raises_not_implemented_through_the_checks():
    """In the blank copy each exercise stops with NotImplementedError naming it (not a check FAIL)."""
    blank = exercises.blank_notebook(_notebook())
    ns = _namespace()
    for region in [r for r in exercises.find_regions(_notebook()) if r.kind == "code"]:
        source = _source(blank["cells"][region.cell])
        assert "BEGIN SOLUTION" not in source
        if region.name.startswith("Problem 1.3"):  # this cell also calls its function
            with pytest.raises(NotImplementedError, match="Problem 1.3"):
                exec(compile(source, "blank", "exec"), ns)  # noqa: S102
            continue
        exec(compile(source, "blank", "exec"), ns)  # noqa: S102
    calls = {
        "1.1": lambda: inclass.check_pairwise_sq_dists(ns["pairwise_sq_dists"]),
        "1.2": lambda: inclass.check_least_squares_grad(ns["least_squares_grad"]),
        "1.4": lambda: inclass.check_mlp(ns["MLP"]),
        "1.5": lambda: inclass.check_dataset(ns["MNIST1D"]),
        "1.6": lambda: inclass.check_train_epoch(ns["train_epoch"]),
        "1.7": lambda: inclass.check_predict(ns["predict"]),
        "1.8": lambda: inclass.check_save_and_load(ns["save_and_load"]),
        "1.9": lambda: inclass.check_reproducible(ns["short_run"]),
    }
    for number, call in calls.items():
        with pytest.raises(NotImplementedError, match=f"Problem {re.escape(number)}"):
            call()


# --- 1.1 --------------------------------------------------------------------------------------


def test_1_1_solution_passes(solved):
    figures = inclass.check_pairwise_sq_dists(solved["pairwise_sq_dists"])
    assert figures["pairwise_max_abs_error"] < 1e-10


@pytest.mark.parametrize("wrong", [
    lambda A, B: ((A[:, None, :] - B[None, :, :]) ** 2).sum(dim=2).sqrt(),  # distances, not squared
    lambda A, B: (A[:, None, :] - B[None, :, :]).abs().sum(dim=2),  # L1
    lambda A, B: ((A[:, None, :] - B[None, :, :]) ** 2).sum(dim=1),  # summed over the wrong axis
    lambda A, B: (A**2).sum(1, keepdim=True) + (B**2).sum(1) - A @ B.T,  # cross term not doubled
])
def test_1_1_wrong_answers_fail(wrong):
    with pytest.raises(CheckFailed):
        inclass.check_pairwise_sq_dists(wrong)


# --- 1.2 --------------------------------------------------------------------------------------


def test_1_2_solution_passes(solved, capsys):
    figures = inclass.check_least_squares_grad(solved["least_squares_grad"])
    assert figures["grad_rel_error_autograd"] < 1e-10 and figures["grad_rel_error_finite_diff"] < 1e-7
    assert capsys.readouterr().out.count("[PASS]") == 3


@pytest.mark.parametrize("wrong", [
    lambda w, X, y: 2 * X.T @ (X @ w - y),  # off by a factor of 2
    lambda w, X, y: X.T @ (y - X @ w),  # sign flipped
    lambda w, X, y: X.T @ (X @ w - y) / len(y),  # gradient of the mean, not of the sum
    lambda w, X, y: (X @ w - y) @ X @ X.T @ X,  # nonsense of the right shape
])
def test_1_2_wrong_answers_fail(wrong):
    with pytest.raises(CheckFailed):
        inclass.check_least_squares_grad(wrong)


# --- 1.3 --------------------------------------------------------------------------------------


def test_1_3_solution_passes(solved):
    assert inclass.check_linear_gd(solved["fit_linear_gd"])["linear_gd_max_abs_error"] < 1e-3


def _gd(zero_grads=True, update_bias=True, sign=1.0, grad_scale=1.0):
    def fit(X, y, lr, num_steps):
        w = torch.zeros(X.shape[1], requires_grad=True)
        b = torch.zeros((), requires_grad=True)
        losses = []
        for _ in range(num_steps):
            loss = ((X @ w + b - y) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                w -= sign * lr * grad_scale * w.grad
                if update_bias:
                    b -= sign * lr * grad_scale * b.grad
            if zero_grads:
                w.grad = None
                b.grad = None
            losses.append(loss.item())
        return w.detach(), b.detach(), losses
    return fit


def test_1_3_reference_variant_passes():
    inclass.check_linear_gd(_gd())


@pytest.mark.parametrize("wrong", [
    _gd(zero_grads=False),  # gradients accumulate
    _gd(update_bias=False),  # bias never learnt
    _gd(sign=-1.0),  # gradient ascent
])
def test_1_3_wrong_answers_fail(wrong):
    with pytest.raises(CheckFailed):
        inclass.check_linear_gd(wrong)


def test_1_3_too_few_steps_fail():
    with pytest.raises(CheckFailed):
        inclass.check_linear_gd(_gd(grad_scale=0.02))  # far from converged after 300 steps


# --- 1.4 --------------------------------------------------------------------------------------


def test_1_4_solution_passes(solved):
    figures = inclass.check_mlp(solved["MLP"])
    assert figures["mlp_params"] == inclass.mlp_param_count(40, 32, 10)


def _mlp_with_forward(forward):
    class WrongMLP(nn.Module):
        def __init__(self, n_in, n_hidden, n_out, p_drop=0.0):
            super().__init__()
            self.fc1 = nn.Linear(n_in, n_hidden)
            self.fc2 = nn.Linear(n_hidden, n_hidden)
            self.fc3 = nn.Linear(n_hidden, n_out)
            self.drop = nn.Dropout(p_drop)

        def forward(self, x):
            return forward(self, x)
    return WrongMLP


@pytest.mark.parametrize("forward", [
    lambda self, x: self.fc3(self.drop(self.fc2(self.drop(self.fc1(x))))),  # no ReLU: affine
    lambda self, x: self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x))))),  # no dropout
    lambda self, x: torch.relu(self.fc3(self.drop(torch.relu(self.fc2(self.drop(torch.relu(self.fc1(x)))))))),
    lambda self, x: self.fc3(self.drop(torch.relu(self.fc1(x)))),  # skips fc2: shape error
])
def test_1_4_wrong_answers_fail(forward):
    with pytest.raises(CheckFailed):
        inclass.check_mlp(_mlp_with_forward(forward))


def test_1_4_extra_parameters_fail(solved):
    class Bigger(solved["MLP"]):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.extra = nn.Linear(2, 2)

    with pytest.raises(CheckFailed, match="parameter count"):
        inclass.check_mlp(Bigger)


# --- 1.5 --------------------------------------------------------------------------------------


def test_1_5_solution_passes(solved):
    assert inclass.check_dataset(solved["MNIST1D"])["dataset_len"] == 30


def _dataset_with_getitem(getitem):
    class WrongDataset(Dataset):
        def __init__(self, x, y, mean, std):
            self.x = torch.as_tensor(x, dtype=torch.float32)
            self.y = torch.as_tensor(y, dtype=torch.int64)
            self.mean = torch.as_tensor(mean, dtype=torch.float32)
            self.std = torch.as_tensor(std, dtype=torch.float32)
            self.x64 = torch.as_tensor(x)

        def __len__(self):
            return len(self.y)

        def __getitem__(self, i):
            return getitem(self, i)
    return WrongDataset


@pytest.mark.parametrize("getitem", [
    lambda self, i: (self.x[i], self.y[i]),  # not standardised
    lambda self, i: ((self.x[i] - self.mean) / self.std, self.y[(i + 1) % len(self.y)]),  # wrong label
    lambda self, i: ((self.x64[i] - self.mean.double()) / self.std.double(), self.y[i]),  # float64
    lambda self, i: ((self.x[i] - self.mean) * self.std, self.y[i]),  # multiplied by std
    lambda self, i: ((self.x[0] - self.mean) / self.std, self.y[0]),  # always the first item
])
def test_1_5_wrong_answers_fail(getitem):
    with pytest.raises(CheckFailed):
        inclass.check_dataset(_dataset_with_getitem(getitem))


# --- 1.6 --------------------------------------------------------------------------------------


def test_1_6_solution_passes(solved):
    assert inclass.check_train_epoch(solved["train_epoch"])["train_epoch_weight_error"] < 1e-5


def _epoch(zero_grad=True, train_mode=True, step=True, last_loss=False):
    def train_epoch(model, loader, loss_fn, optimizer):
        if train_mode:
            model.train()
        total, count, loss = 0.0, 0, None
        for X, y in loader:
            if zero_grad:
                optimizer.zero_grad()
            loss = loss_fn(model(X), y)
            loss.backward()
            if step:
                optimizer.step()
            total += loss.item() * len(X)
            count += len(X)
        return loss.item() if last_loss else total / count
    return train_epoch


@pytest.mark.parametrize("wrong", [
    _epoch(zero_grad=False),  # gradients accumulate over batches
    _epoch(train_mode=False),  # dropout left off
    _epoch(step=False),  # never updates
    _epoch(last_loss=True),  # returns the last batch's loss, not the epoch mean
])
def test_1_6_wrong_answers_fail(wrong):
    with pytest.raises(CheckFailed):
        inclass.check_train_epoch(wrong)


# --- 1.7 --------------------------------------------------------------------------------------


def test_1_7_solution_passes(solved):
    inclass.check_predict(solved["predict"], "cpu")


def _predict(to_device=True, to_dtype=True, eval_mode=True, cpu=True):
    def predict(model, X):
        param = next(model.parameters())
        X = torch.as_tensor(X)
        if to_dtype:
            X = X.to(param.dtype)
        if to_device:
            X = X.to(param.device)
        if eval_mode:
            model.eval()
        with torch.no_grad():
            out = model(X)
        return out.cpu() if cpu else out
    return predict


@pytest.mark.parametrize("wrong", [
    _predict(to_device=False),  # fails for a model on another device (meta here)
    _predict(to_dtype=False),  # float64 input into a float32 model
    _predict(eval_mode=False),  # dropout still on
])
def test_1_7_wrong_answers_fail(wrong):
    with pytest.raises(CheckFailed):
        inclass.check_predict(wrong, "cpu")


def test_1_7_output_with_graph_fails():
    def predict(model, X):
        model.eval()
        return model(torch.as_tensor(X, dtype=torch.float32)).cpu()  # no no_grad, no device move

    with pytest.raises(CheckFailed):
        inclass.check_predict(predict, "cpu")


# --- 1.8 --------------------------------------------------------------------------------------


def test_1_8_solution_passes(solved):
    inclass.check_save_and_load(solved["save_and_load"])


def _whole_model(model, make_model, path):
    torch.save(model, path)  # pickles the whole object
    restored = make_model()
    restored.load_state_dict(model.state_dict())
    return restored


def _not_loaded(model, make_model, path):
    torch.save(model.state_dict(), path)
    return make_model()  # forgets to load


def _same_object(model, make_model, path):
    torch.save(model.state_dict(), path)
    return model


@pytest.mark.parametrize("wrong", [_whole_model, _not_loaded, _same_object])
def test_1_8_wrong_answers_fail(wrong):
    with pytest.raises(CheckFailed):
        inclass.check_save_and_load(wrong)


# --- 1.9 --------------------------------------------------------------------------------------


def test_1_9_solution_passes(solved):
    figures = inclass.check_reproducible(solved["short_run"])
    assert figures["repro_loss_seed0"] != figures["repro_loss_seed1"]


def _run_from(seed_fn):
    def short_run(seed):
        seed_fn(seed)
        model = nn.Linear(3, 1)
        x = torch.randn(16, 3)
        return float(((model(x) - 1) ** 2).mean().detach())
    return short_run


@pytest.mark.parametrize("wrong", [
    _run_from(lambda seed: None),  # never seeds: a different number every call
    _run_from(lambda seed: seed_everything(0)),  # ignores its seed
])
def test_1_9_wrong_answers_fail(wrong):
    with pytest.raises(CheckFailed):
        inclass.check_reproducible(wrong)


def test_1_9_a_correct_variant_passes():
    inclass.check_reproducible(_run_from(seed_everything))


# --- helpers of the checks ----------------------------------------------------------------------


def test_reference_pairwise_and_lstsq_are_right():
    A = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    B = torch.tensor([[3.0, 4.0]], dtype=torch.float64)
    assert inclass.reference_pairwise_sq_dists(A, B).tolist() == [[25.0], [13.0]]
    X = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    w, b = inclass.lstsq_with_bias(X, X @ torch.tensor([2.0, -1.0]) + 3.0)
    assert torch.allclose(w, torch.tensor([2.0, -1.0], dtype=torch.float64), atol=1e-5)
    assert abs(float(b) - 3.0) < 1e-5


def test_an_exception_in_student_code_becomes_a_named_fail(capsys):
    def broken(A, B):
        return A @ B  # (5, 3) @ (4, 3): shape error

    with pytest.raises(CheckFailed, match="raised RuntimeError"):
        inclass.check_pairwise_sq_dists(broken)
    assert "[FAIL] 1.1 pairwise_sq_dists: raised RuntimeError" in capsys.readouterr().out
