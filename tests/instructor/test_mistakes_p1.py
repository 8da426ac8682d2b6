"""Typical mistakes in Problem 1's exercises, each put into the solved notebook: its check FAILs.

Each test replaces a snippet of a solution region (``tests/instructor/cells.py``
insists that the snippet occurs exactly once) and runs the notebook in quick
mode up to the exercise's check, which must print ``[FAIL]`` and raise
``CheckFailed``; a crash elsewhere does not count.
"""

from __future__ import annotations

import pytest

from tests.instructor.cells import expect_check_failure, fail_lines, run_cells

NOTEBOOK = "01_inclass_pytorch"

#: Exercises whose cells come after the data and the optimiser comparison (a slow prefix).
LATE = ("1.5", "1.6", "1.7", "1.8", "1.9")


@pytest.fixture(scope="module")
def before_1_5():
    """The namespace of the solved notebook run (quick mode) up to check 1.4."""
    return run_cells(NOTEBOOK, until="# check 1.4")[0]


@pytest.fixture(scope="module")
def before_1_9():
    """The namespace of the solved notebook run (quick mode) up to check 1.9."""
    return run_cells(NOTEBOOK, until="# check 1.9")[0]


PAIRWISE = ("    diff = A[:, None, :] - B[None, :, :]  # (N, M, D)\n"
            "    return (diff**2).sum(dim=2)\n")
GRAD = ("    residual = X @ w - y  # (N,)\n"
        "    return X.T @ residual  # chain rule: dL/dr = r, dr/dw = X\n")
SUM = "return (diff**2).sum(dim=2)"

MISTAKES = {
    "1.1": {
        "distances, not squared": {SUM: "return (diff**2).sum(dim=2).sqrt()"},
        "L1 distance": {SUM: "return diff.abs().sum(dim=2)"},
        "summed over the wrong axis": {SUM: "return (diff**2).sum(dim=1)"},
        "no broadcasting": {"diff = A[:, None, :] - B[None, :, :]": "diff = A - B"},
        "expansion with the cross term not doubled": {
            PAIRWISE: "    return (A**2).sum(1)[:, None] + (B**2).sum(1)[None, :] - A @ B.T\n"},
        "rows and columns swapped": {SUM: "return (diff**2).sum(dim=2).T"},
    },
    "1.2": {
        "factor 2 (the gradient of the sum without the 1/2)": {
            "return X.T @ residual": "return 2 * X.T @ residual"},
        "sign flipped": {"residual = X @ w - y": "residual = y - X @ w"},
        "gradient of the mean, not of the sum": {
            "return X.T @ residual": "return X.T @ residual / len(y)"},
        "transpose missing": {"return X.T @ residual": "return X @ (X.T @ residual)[: len(w)]"},
        "autograd instead of the formula": {
            GRAD: "    w = w.clone().requires_grad_(True)\n"
                  "    (0.5 * ((X @ w - y) ** 2).sum()).backward()\n    return w.grad\n"},
    },
    "1.3": {
        "gradients never reset": {"        w.grad = None\n        b.grad = None\n": ""},
        "bias never updated": {"            b -= lr * b.grad\n": ""},
        "gradient ascent": {"            w -= lr * w.grad\n            b -= lr * b.grad\n":
                            "            w += lr * w.grad\n            b += lr * b.grad\n"},
        "sum instead of mean": {"loss = ((X @ w + b - y) ** 2).mean()":
                                "loss = ((X @ w + b - y) ** 2).sum()"},
        "losses kept as tensors with their graph": {"losses.append(loss.item())":
                                                    "losses.append(loss)"},
        "loss recorded after the update": {
            "losses.append(loss.item())":
                "losses.append(((X @ w + b - y) ** 2).mean().item())"},
        "random start instead of zero": {
            "w = torch.zeros(X.shape[1], requires_grad=True)":
                "w = torch.randn(X.shape[1], requires_grad=True)"},
        "w of shape (D, 1): (N, 1) - (N,) broadcasts to (N, N)": {
            "w = torch.zeros(X.shape[1], requires_grad=True)":
                "w = torch.zeros(X.shape[1], 1, requires_grad=True)"},
        "one step too few": {"for _ in range(num_steps):": "for _ in range(num_steps - 1):"},
        "the notebook's step size hard-coded": {
            "            w -= lr * w.grad\n            b -= lr * b.grad\n":
                "            w -= 0.1 * w.grad\n            b -= 0.1 * b.grad\n"},
        "the notebook's number of steps hard-coded": {"for _ in range(num_steps):":
                                                      "for _ in range(300):"},
        "b of shape (1,), not a 0-d scalar": {"b = torch.zeros((), requires_grad=True)":
                                              "b = torch.zeros(1, requires_grad=True)"},
    },
    "1.4": {
        "no ReLU": {"h = self.drop(torch.relu(self.fc1(x)))": "h = self.drop(self.fc1(x))",
                    "h = self.drop(torch.relu(self.fc2(h)))": "h = self.drop(self.fc2(h))"},
        "no dropout": {"h = self.drop(torch.relu(self.fc1(x)))": "h = torch.relu(self.fc1(x))",
                       "h = self.drop(torch.relu(self.fc2(h)))": "h = torch.relu(self.fc2(h))"},
        "dropout on the logits only": {
            "h = self.drop(torch.relu(self.fc1(x)))": "h = torch.relu(self.fc1(x))",
            "h = self.drop(torch.relu(self.fc2(h)))": "h = torch.relu(self.fc2(h))",
            "return self.fc3(h)": "return self.drop(self.fc3(h))"},
        "dropout after the first hidden layer only": {
            "h = self.drop(torch.relu(self.fc2(h)))": "h = torch.relu(self.fc2(h))"},
        "dropout on the input": {"h = self.drop(torch.relu(self.fc1(x)))":
                                 "h = torch.relu(self.fc1(self.drop(x)))"},
        "ReLU on the logits": {"return self.fc3(h)": "return torch.relu(self.fc3(h))"},
        "softmax before CrossEntropyLoss": {"return self.fc3(h)":
                                            "return torch.softmax(self.fc3(h), dim=1)"},
        "sigmoid instead of ReLU": {"h = self.drop(torch.relu(self.fc1(x)))":
                                    "h = self.drop(torch.sigmoid(self.fc1(x)))"},
        "second hidden layer skipped": {"        h = self.drop(torch.relu(self.fc2(h)))\n": ""},
        "functional dropout that ignores eval mode": {
            "h = self.drop(torch.relu(self.fc1(x)))":
                "h = nn.functional.dropout(torch.relu(self.fc1(x)), 0.5)"},
    },
    "1.5": {
        "not standardised": {"return (self.x[i] - self.mean) / self.std, self.y[i]":
                             "return self.x[i], self.y[i]"},
        "the notebook's statistics instead of the dataset's": {
            "return (self.x[i] - self.mean) / self.std, self.y[i]":
                "return (self.x[i] - torch.as_tensor(x_mean, dtype=torch.float32))"
                " / torch.as_tensor(x_std, dtype=torch.float32), self.y[i]"},
        "the data's own statistics instead of the ones given": {
            "return (self.x[i] - self.mean) / self.std, self.y[i]":
                "return (self.x[i] - self.x.mean(0)) / self.x.std(0, unbiased=False), self.y[i]"},
        "multiplied by the std": {"return (self.x[i] - self.mean) / self.std, self.y[i]":
                                  "return (self.x[i] - self.mean) * self.std, self.y[i]"},
        "label as a float": {"return (self.x[i] - self.mean) / self.std, self.y[i]":
                             "return (self.x[i] - self.mean) / self.std, self.y[i].float()"},
        "signal as float64": {"return (self.x[i] - self.mean) / self.std, self.y[i]":
                              "return ((self.x[i] - self.mean) / self.std).double(), self.y[i]"},
        "NumPy arrays instead of tensors": {
            "return (self.x[i] - self.mean) / self.std, self.y[i]":
                "return ((self.x[i] - self.mean) / self.std).numpy(), self.y[i].numpy()"},
        "always the first example": {"return (self.x[i] - self.mean) / self.std, self.y[i]":
                                     "return (self.x[0] - self.mean) / self.std, self.y[0]"},
        "a dict instead of a pair": {
            "return (self.x[i] - self.mean) / self.std, self.y[i]":
                "return {'x': (self.x[i] - self.mean) / self.std, 'y': self.y[i]}"},
    },
    "1.6": {
        "no zero_grad: gradients accumulate": {"        optimizer.zero_grad()  #": "        #"},
        "no model.train()": {"    model.train()  # dropout on": "    #"},
        "no optimizer.step()": {"        optimizer.step()\n": ""},
        "loss of the last batch only": {"    return total / count": "    return loss.item()"},
        "mean of batch means": {"total += loss.item() * len(X)": "total += loss.item()",
                                "count += len(X)": "count += 1"},
        "sum of batch means over examples": {"total += loss.item() * len(X)":
                                             "total += loss.item()"},
        "losses summed as tensors (the graph is kept)": {
            "total, count = 0.0, 0": "total, count = torch.zeros(()), 0",
            "total += loss.item() * len(X)": "total = total + loss * len(X)"},
        "zero_grad between backward and step": {
            "        optimizer.zero_grad()  # gradients would otherwise accumulate over batches\n":
                "",
            "        loss.backward()\n        optimizer.step()\n":
                "        loss.backward()\n        optimizer.zero_grad()\n"
                "        optimizer.step()\n"},
    },
    "1.7": {
        "input not moved to the model's device": {
            "X = torch.as_tensor(X, dtype=param.dtype).to(param.device)":
                "X = torch.as_tensor(X, dtype=param.dtype)"},
        "dtype hard-coded to float32": {
            "X = torch.as_tensor(X, dtype=param.dtype).to(param.device)":
                "X = torch.as_tensor(X, dtype=torch.float32).to(param.device)"},
        "dtype not converted": {"X = torch.as_tensor(X, dtype=param.dtype).to(param.device)":
                                "X = torch.as_tensor(X).to(param.device)"},
        "model left in training mode": {"    model.eval()\n": ""},
        "a graph is recorded": {"    with torch.no_grad():\n        return model(X).cpu()":
                                "    return model(X).cpu()"},
        "the model is moved to the data instead": {
            "X = torch.as_tensor(X, dtype=param.dtype).to(param.device)":
                "X = torch.as_tensor(X, dtype=param.dtype)\n    model.to(X.device)"},
        "a NumPy array returned": {"return model(X).cpu()": "return model(X).cpu().numpy()"},
    },
    "1.8": {
        "the whole model pickled": {"torch.save(model.state_dict(), path)":
                                    "torch.save(model, path)"},
        "weights never loaded": {
            "    restored.load_state_dict(torch.load(path, weights_only=True))\n": ""},
        "weights copied from the model, not from the file": {
            "restored.load_state_dict(torch.load(path, weights_only=True))":
                "restored.load_state_dict(model.state_dict())"},
        "the file read, but the weights copied from the model": {
            "restored.load_state_dict(torch.load(path, weights_only=True))":
                "state = torch.load(path, weights_only=True)\n"
                "    restored.load_state_dict(model.state_dict())"},
        "loaded with weights_only=False": {"torch.load(path, weights_only=True)":
                                           "torch.load(path, weights_only=False)"},
        "the same object returned": {"    return restored\n": "    return model\n"},
        "a deep copy instead of the file": {
            "    restored = make_model()\n"
            "    restored.load_state_dict(torch.load(path, weights_only=True))\n":
                "    import copy\n    restored = copy.deepcopy(model)\n"},
    },
    "1.9": {
        "never seeded": {"    seed_everything(seed)\n    model = MLP": "    model = MLP"},
        "the argument ignored": {"    seed_everything(seed)\n    model = MLP":
                                 "    seed_everything(0)\n    model = MLP",
                                 "gen = torch.Generator().manual_seed(seed)":
                                 "gen = torch.Generator().manual_seed(0)"},
        "seeded after the model is built": {
            "    seed_everything(seed)\n    model = MLP(40, 32, 10, p_drop=0.1)\n":
                "    model = MLP(40, 32, 10, p_drop=0.1)\n    seed_everything(seed)\n"},
        "one model shared by all runs": {
            "    seed_everything(seed)\n    model = MLP(40, 32, 10, p_drop=0.1)\n":
                "    seed_everything(seed)\n    model = small_model\n",
            "def short_run(seed):": "small_model = MLP(40, 32, 10, p_drop=0.1)\n\n\n"
                                   "def short_run(seed):"},
    },
}

CASES = [pytest.param(ex, what, edits, id=f"{ex} {what}",
                      marks=[pytest.mark.slow] if ex in LATE else [])
         for ex, mistakes in MISTAKES.items() for what, edits in mistakes.items()]


@pytest.mark.parametrize("exercise, what, edits", CASES)
def test_the_check_catches_the_mistake(exercise, what, edits, request):
    prefix = request.getfixturevalue("before_1_9" if exercise in LATE else "before_1_5")
    output = expect_check_failure(NOTEBOOK, start=f"# exercise {exercise}",
                                  until=f"# check {exercise}", replace=edits, namespace=prefix)
    lines = fail_lines(output)
    assert lines and lines[-1].startswith(f"[FAIL] {exercise} "), output[-2000:]


def test_an_update_outside_no_grad_stops_in_the_exercise_cell(before_1_5):
    """Not a check's catch: PyTorch itself refuses the in-place update of a leaf that needs grad."""
    edits = {"        with torch.no_grad():  # the update itself must not be recorded\n":
             "        if True:\n"}
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        run_cells(NOTEBOOK, start="# exercise 1.3", until="# check 1.3", replace=edits,
                  namespace=before_1_5)


@pytest.mark.slow
def test_the_solved_notebook_passes_every_check_in_quick_mode():
    _, output = run_cells(NOTEBOOK)
    for exercise in MISTAKES:
        assert f"[PASS] {exercise} " in output
    assert "[FAIL]" not in output
