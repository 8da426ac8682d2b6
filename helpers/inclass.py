"""Checks for the exercises of Problem 1 (the in-class PyTorch introduction).

Each ``check_*`` takes the student's function or class, runs it on a small
fixed input (fixed seed), compares the result against a reference (a loop,
autograd, finite differences, ``torch.linalg.lstsq``, the loop in
``helpers.training``) and prints ``[PASS]``/``[FAIL]`` lines through
:mod:`helpers.checks`, raising :class:`helpers.checks.CheckFailed` on FAIL.
Each returns a dict of the figures it compared, for ``save_results``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from . import checks
from .training import train_epoch as reference_train_epoch


def _dtype_name(value: Any) -> str:
    return str(getattr(value, "dtype", type(value).__name__)).removeprefix("torch.")


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _call(name: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Run the student's code; an exception becomes a FAIL line naming it (then raises)."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as err:  # the error itself is the most useful feedback
        message = str(err).splitlines()[0] if str(err) else ""
        checks.report(name, False, f"raised {type(err).__name__}: {message[:160]}")


# --- 1.1 broadcasting ---------------------------------------------------------------------------


def reference_pairwise_sq_dists(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Loop reference: out[i, j] = sum_d (A[i, d] - B[j, d])^2. A: (N, D), B: (M, D) -> (N, M)."""
    out = torch.empty(len(A), len(B), dtype=A.dtype)
    for i in range(len(A)):
        for j in range(len(B)):
            out[i, j] = ((A[i] - B[j]) ** 2).sum()
    return out


def check_pairwise_sq_dists(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> dict[str, float]:
    """``fn(A, B)`` must return the (N, M) squared distances for A (N, D) and B (M, D), N != M."""
    g = _generator(11)
    A = torch.randn(5, 3, generator=g, dtype=torch.float64)
    B = torch.randn(4, 3, generator=g, dtype=torch.float64)
    out = _call("1.1 pairwise_sq_dists", fn, A, B)
    checks.check_shape("1.1 shape", out, (5, 4))
    expected = reference_pairwise_sq_dists(A, B)
    checks.check_close("1.1 vs a double loop", out, expected, atol=1e-10)
    return {"pairwise_max_abs_error": float((torch.as_tensor(out) - expected).abs().max())}


# --- 1.2 a gradient by hand ---------------------------------------------------------------------


def least_squares_loss(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L(w) = 1/2 sum_n (w^T x_n - y_n)^2 (the loss of Problem 2). w: (D,), X: (N, D), y: (N,) -> 0-d."""
    return 0.5 * ((X @ w - y) ** 2).sum()


def check_least_squares_grad(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> dict[str, float]:
    """``fn(w, X, y)`` must return dL/dw of :func:`least_squares_loss`, shape (D,).

    Compared with autograd and with centred finite differences, both in float64.
    """
    g = _generator(12)
    X = torch.randn(20, 4, generator=g, dtype=torch.float64)
    y = torch.randn(20, generator=g, dtype=torch.float64)
    w = torch.randn(4, generator=g, dtype=torch.float64)
    grad = _call("1.2 least_squares_grad", fn, w.clone(), X, y)
    checks.check_shape("1.2 shape", grad, (4,))
    w_auto = w.clone().requires_grad_(True)
    least_squares_loss(w_auto, X, y).backward()
    auto_err = checks.max_rel_error(grad, w_auto.grad)
    checks.check_rel_error("1.2 vs autograd", grad, w_auto.grad, 1e-10)
    f = lambda v: float(least_squares_loss(torch.as_tensor(v), X, y))  # noqa: E731
    fd = checks.centred_difference_grad(f, w, eps=1e-6)
    fd_err = checks.max_rel_error(grad, fd)
    checks.check_rel_error("1.2 vs centred differences", grad, fd, 1e-7)
    return {"grad_rel_error_autograd": auto_err, "grad_rel_error_finite_diff": fd_err}


# --- 1.3 linear regression by gradient descent --------------------------------------------------


def linear_data(n: int = 200, d: int = 3, noise: float = 0.1, seed: int = 13) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic regression data y = X w_true + b_true + noise. Returns X (n, d), y (n,), float32."""
    g = _generator(seed)
    X = torch.randn(n, d, generator=g)
    w_true = torch.arange(1, d + 1, dtype=torch.float32) * torch.tensor([1.0, -1.0] * d)[:d]
    y = X @ w_true + 0.5 + noise * torch.randn(n, generator=g)
    return X, y


def lstsq_with_bias(X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form least squares with an intercept: returns w (D,), b (0-d), computed in float64."""
    X1 = torch.cat([X.double(), torch.ones(len(X), 1, dtype=torch.float64)], dim=1)
    sol = torch.linalg.lstsq(X1, y.double().unsqueeze(1)).solution.squeeze(1)
    return sol[:-1], sol[-1]


def check_linear_gd(fn: Callable[..., Any], *, lr: float = 0.1, num_steps: int = 300, atol: float = 1e-3) -> dict[str, float]:
    """``fn(X, y, lr, num_steps)`` must return (w, b, losses) from gradient descent on the mean squared error.

    Passes when w and b agree with the closed-form least-squares solution to ``atol``.
    """
    X, y = linear_data()
    w, b, losses = _call("1.3 fit_linear_gd", fn, X, y, lr, num_steps)
    w_ls, b_ls = lstsq_with_bias(X, y)
    checks.check_equal("1.3 one loss per step", len(losses), num_steps)
    theta = torch.cat([torch.as_tensor(w).double().ravel(), torch.as_tensor(b).double().reshape(1)])
    theta_ls = torch.cat([w_ls, b_ls.reshape(1)])
    checks.check_close("1.3 (w, b) vs lstsq", theta, theta_ls, atol=atol)
    return {"linear_gd_max_abs_error": float((theta - theta_ls).abs().max())}


# --- 1.4 nn.Module ------------------------------------------------------------------------------


def mlp_param_count(n_in: int, n_hidden: int, n_out: int) -> int:
    """Trainable scalars of Linear(n_in, h) -> Linear(h, h) -> Linear(h, n_out), with biases."""
    return (n_in + 1) * n_hidden + (n_hidden + 1) * n_hidden + (n_hidden + 1) * n_out


def check_mlp(mlp_class: type, *, n_in: int = 40, n_hidden: int = 32, n_out: int = 10, p_drop: float = 0.5) -> dict[str, float]:
    """``mlp_class(n_in, n_hidden, n_out, p_drop)`` with layers ``fc1, fc2, fc3`` must compute
    fc3(drop(relu(fc2(drop(relu(fc1(x))))))).

    Compared in eval mode with the same computation written as ``nn.Sequential``
    sharing its weights; in train mode dropout must make two passes differ.
    """
    torch.manual_seed(14)
    net = mlp_class(n_in, n_hidden, n_out, p_drop)
    checks.check_param_count("1.4 parameter count", net, mlp_param_count(n_in, n_hidden, n_out))
    reference = nn.Sequential(net.fc1, nn.ReLU(), nn.Dropout(p_drop), net.fc2, nn.ReLU(), nn.Dropout(p_drop), net.fc3)
    x = torch.randn(8, n_in, generator=_generator(14))
    net.eval()
    reference.eval()
    with torch.no_grad():
        out = _call("1.4 MLP.forward", net, x)
        expected = reference(x)
    checks.check_close("1.4 vs nn.Sequential, eval mode", out, expected, atol=1e-6)
    checks.check_nonlinear("1.4 not affine", net, x[:4], x[4:])
    net.train()
    with torch.no_grad():
        first, second = net(x), net(x)
    gap = float((first - second).abs().max())
    checks.check_greater("1.4 dropout in train mode", gap, 0.0, what="max |pass 1 - pass 2|")
    return {"mlp_params": checks.count_params(net)}


# --- 1.5 Dataset --------------------------------------------------------------------------------


def check_dataset(dataset_class: type, *, batch_size: int = 8) -> dict[str, float]:
    """``dataset_class(x, y, mean, std)`` must give item i = ((x[i] - mean) / std as float32, y[i] as int64).

    Also checks that a shuffling DataLoader over it yields (B, L) and (B,)
    batches and visits every example exactly once per epoch.
    """
    name = "1.5 Dataset"
    rng = np.random.default_rng(15)
    x = rng.normal(size=(30, 6))
    y = rng.integers(0, 10, size=30)
    mean, std = x.mean(axis=0), x.std(axis=0)
    ds = _call(name, dataset_class, x, y, mean, std)
    checks.check_equal("1.5 len", len(ds), 30)
    xi, yi = _call("1.5 __getitem__", ds.__getitem__, 7)
    dtypes_ok = getattr(xi, "dtype", None) == torch.float32 and getattr(yi, "dtype", None) == torch.int64
    checks.check_true("1.5 item dtypes", dtypes_ok,
                      f"signal {_dtype_name(xi)}, label {_dtype_name(yi)} (want float32, int64)")
    checks.check_close("1.5 item 7 standardised", xi, (x[7] - mean) / std, atol=1e-5)
    checks.check_equal("1.5 item 7 label", int(yi), int(y[7]))
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, generator=_generator(15))
    xb, yb = next(iter(loader))
    checks.check_equal("1.5 batch shapes", (tuple(xb.shape), tuple(yb.shape)), ((batch_size, 6), (batch_size,)))
    seen_x = torch.cat([xb for xb, _ in loader]).double()
    seen_y = torch.cat([yb for _, yb in loader])
    # Every example once: the sorted labels and the column sums of one epoch match the data's.
    same_labels = bool(torch.equal(seen_y.sort().values, torch.as_tensor(np.sort(y))))
    sums_err = float((seen_x.sum(0) - torch.as_tensor(((x - mean) / std).sum(0))).abs().max())
    checks.check_true("1.5 one epoch covers all", same_labels and sums_err < 1e-4,
                      f"{len(seen_y)} examples, labels {'match' if same_labels else 'differ'}, sums {sums_err:.0e}")
    return {"dataset_len": len(ds)}


# --- 1.6 the training loop ----------------------------------------------------------------------


def _tiny_classifier() -> nn.Module:
    torch.manual_seed(16)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))


def check_train_epoch(fn: Callable[..., float]) -> dict[str, float]:
    """``fn(model, loader, loss_fn, optimizer)`` must train one epoch and return the mean loss per example.

    Run from the same start (weights, batch order, dropout masks) as the
    reference :func:`helpers.training.train_epoch`; the weights afterwards and
    the returned loss must agree. The model is handed over in eval mode, so the
    loop has to switch it to training mode itself.
    """
    name = "1.6 train_epoch"
    g = _generator(16)
    X = torch.randn(96, 6, generator=g)
    y = torch.randint(0, 3, (96,), generator=g)
    ds = torch.utils.data.TensorDataset(X, y)
    loss_fn = nn.CrossEntropyLoss()
    results = []
    for run in ("yours", "reference"):
        model = _tiny_classifier()
        model.eval()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loader = DataLoader(ds, batch_size=32, shuffle=True, generator=_generator(160))
        torch.manual_seed(161)  # same dropout masks in both runs
        if run == "yours":
            loss = _call(name, fn, model, loader, loss_fn, optimizer)
        else:
            loss, _ = reference_train_epoch(model, loader, loss_fn, optimizer)
        results.append((model, float(loss)))
    (mine, my_loss), (ref, ref_loss) = results
    w_mine = torch.cat([p.detach().ravel() for p in mine.parameters()])
    w_ref = torch.cat([p.detach().ravel() for p in ref.parameters()])
    checks.check_close("1.6 weights vs reference loop", w_mine, w_ref, atol=1e-5)
    checks.check_close("1.6 mean loss", my_loss, ref_loss, atol=1e-5)
    return {"train_epoch_weight_error": float((w_mine - w_ref).abs().max())}


# --- 1.7 devices --------------------------------------------------------------------------------


class _DeviceProbe(nn.Module):
    """A model whose forward refuses inputs that are not on its device or not its dtype.

    With ``device="meta"`` (a device that holds shapes but no data) it lets a
    CPU-only machine see whether code moves inputs to the model's device. It
    returns zeros on the CPU as its "output".
    """

    def __init__(self, device: str, n_in: int = 5, n_out: int = 3):
        super().__init__()
        self.layer = nn.Linear(n_in, n_out, device=device)
        self.n_out = n_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.layer.weight
        if x.device != w.device or x.dtype != w.dtype:
            raise RuntimeError(f"input on {x.device} ({x.dtype}) but the model is on {w.device} ({w.dtype})")
        return torch.zeros(len(x), self.n_out, device="cpu")


def check_predict(fn: Callable[[nn.Module, Any], torch.Tensor], device: torch.device | str = "cpu") -> dict[str, float]:
    """``fn(model, X)`` must move ``X`` (a float64 NumPy array) to the model's device and dtype, run
    the model in eval mode without building a graph, and return the outputs on the CPU.

    Tried with a real model on ``device`` and with a model on the ``meta`` device.
    """
    name = "1.7 predict"
    device = torch.device(device)
    torch.manual_seed(17)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3)).to(device)
    X = np.random.default_rng(17).normal(size=(6, 5))
    out = _call(name, fn, model, X)
    on_cpu = isinstance(out, torch.Tensor) and out.device.type == "cpu" and not out.requires_grad
    checks.check_true("1.7 output on the CPU, no graph", on_cpu,
                      f"device {getattr(out, 'device', '?')}, requires_grad {getattr(out, 'requires_grad', '?')}")
    model.eval()
    with torch.no_grad():
        expected = model(torch.as_tensor(X, dtype=torch.float32).to(device)).cpu()
    checks.check_close("1.7 outputs (eval mode)", out, expected, atol=1e-6)
    _call("1.7 model on the meta device", fn, _DeviceProbe("meta"), X)
    checks.check_true("1.7 model on the meta device", True, "input was moved there")
    return {}


# --- 1.8 saving and loading ---------------------------------------------------------------------


def check_save_and_load(fn: Callable[[nn.Module, Callable[[], nn.Module], Path], nn.Module]) -> dict[str, float]:
    """``fn(model, make_model, path)`` must save ``model.state_dict()`` to ``path`` and return a fresh
    ``make_model()`` that loaded those weights from the file with ``weights_only=True``.
    """
    name = "1.8 save and load"

    def make_model() -> nn.Module:
        return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))

    torch.manual_seed(18)
    model = make_model()
    x = torch.randn(5, 4, generator=_generator(18))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights.pt"
        loaded = _call(name, fn, model, make_model, path)
        checks.check_true("1.8 a new model object", loaded is not model and isinstance(loaded, nn.Module),
                          f"returned {'a new' if loaded is not model else 'the same'} {type(loaded).__name__}")
        try:
            state = torch.load(path, weights_only=True)
            plain = isinstance(state, dict) and all(torch.is_tensor(v) for v in state.values())
            detail = f"{path.name} holds {len(state)} tensors" if plain else f"{path.name} holds a {type(state).__name__}"
        except Exception as err:  # noqa: BLE001 - a whole pickled model ends up here
            plain, detail = False, f"{path.name} is not a plain state_dict ({type(err).__name__})"
        checks.check_true("1.8 file is a state_dict", plain, detail)
    with torch.no_grad():
        checks.check_close("1.8 reloaded outputs", loaded(x), model(x), atol=0.0)
    return {}


# --- 1.9 reproducibility ------------------------------------------------------------------------


def check_reproducible(fn: Callable[[int], float]) -> dict[str, float]:
    """``fn(seed)`` must return the same number twice for the same seed and a different one for another seed."""
    name = "1.9 reproducibility"
    a, b, c = (float(_call(name, fn, s)) for s in (0, 0, 1))
    checks.check_true("1.9 same seed, same result", a == b, f"run(0) = {a:.6g}, again {b:.6g}")
    checks.check_true("1.9 other seed, other result", a != c, f"run(1) = {c:.6g} vs run(0) = {a:.6g}")
    return {"repro_loss_seed0": a, "repro_loss_seed1": c}
