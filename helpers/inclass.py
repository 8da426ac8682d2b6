"""Checks for the exercises of Problem 1 (the in-class PyTorch introduction).

Each ``check_*`` takes the student's function or class, runs it on a small
fixed input and compares the result with an independent computation
(autograd, centred finite differences, ``torch.linalg.lstsq``) or with values
recorded from a correct solution on that same input (the ``RECORDED_*``
constants below; the inputs are written out here or come from fixed
formulas, so they are the same on every machine). Each prints
``[PASS]``/``[FAIL]`` lines through :mod:`helpers.checks`, raises
:class:`helpers.checks.CheckFailed` on FAIL, and returns a dict of the figures
it compared, for ``save_results``.

Also here: the synthetic data of section 3 (``linear_data``, ``lstsq_with_bias``).
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from . import checks


def _dtype_name(value: Any) -> str:
    """``float32`` for a float32 tensor, array or the dtype itself; the type's name otherwise."""
    dtype = value if isinstance(value, torch.dtype) else getattr(value, "dtype", None)
    return str(dtype).removeprefix("torch.") if dtype is not None else type(value).__name__


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _first_line(err: BaseException) -> str:
    """The first line of an error message, without terminal colour codes, at most 160 characters."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    return text.splitlines()[0][:160] if text else ""


def _call(name: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Run the student's code; an exception becomes a FAIL line naming it (then raises)."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as err:
        if str(err).startswith("Problem "):  # an exercise not done yet: say which
            raise
        checks.report(name, False, f"raised NotImplementedError: {_first_line(err)}")
    except checks.CheckFailed:
        raise
    except Exception as err:  # the error itself is the most useful feedback
        checks.report(name, False, f"raised {type(err).__name__}: {_first_line(err)}")


def _no_graph(value: Any) -> bool:
    """True for a plain number or a tensor that records no graph."""
    return not (torch.is_tensor(value) and value.requires_grad)


# --- 1.1 broadcasting ---------------------------------------------------------------------------

#: The fixed input of check 1.1: A (5, 3) and B (4, 3), small integers (exact in float64).
PAIRWISE_A = ((0, 1, 2), (3, -1, 0), (-2, 2, 1), (1, 1, -3), (2, 0, 2))
PAIRWISE_B = ((1, 0, 0), (-1, 2, 2), (0, -3, 1), (2, 2, -1))
#: The squared distances between the rows of PAIRWISE_A and PAIRWISE_B (recorded).
RECORDED_PAIRWISE = (
    (6, 2, 17, 14),
    (5, 29, 14, 11),
    (14, 2, 29, 20),
    (10, 30, 33, 6),
    (5, 13, 14, 13),
)


def check_pairwise_sq_dists(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
                            ) -> dict[str, float]:
    """``fn(A, B)`` for A (N, D), B (M, D) with N != M must return the (N, M) squared distances.

    Compared exactly with the recorded values on the fixed input (float64).
    """
    A = torch.tensor(PAIRWISE_A, dtype=torch.float64)
    B = torch.tensor(PAIRWISE_B, dtype=torch.float64)
    out = _call("1.1 pairwise_sq_dists", fn, A.clone(), B.clone())
    checks.check_shape("1.1 shape", out, (5, 4))
    expected = torch.tensor(RECORDED_PAIRWISE, dtype=torch.float64)
    checks.check_close("1.1 vs recorded distances", out, expected, atol=1e-10)
    return {"pairwise_max_abs_error": float((torch.as_tensor(out) - expected).abs().max())}


# --- 1.2 a gradient by hand ---------------------------------------------------------------------


def _least_squares_loss(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L(w) = 1/2 sum_n (w^T x_n - y_n)^2. w: (D,), X: (N, D), y: (N,) -> 0-d."""
    return 0.5 * ((X @ w - y) ** 2).sum()


def check_least_squares_grad(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
                             ) -> dict[str, float]:
    """``fn(w, X, y)`` must return dL/dw of L(w) = 1/2 ||X w - y||^2, shape (D,).

    ``fn`` runs with autograd switched off (``torch.no_grad``): the formula is
    the exercise. Compared with autograd and with centred finite differences,
    both in float64, on a 20 x 4 input (N != D, so a missing transpose shows).
    """
    g = _generator(12)
    X = torch.randn(20, 4, generator=g, dtype=torch.float64)
    y = torch.randn(20, generator=g, dtype=torch.float64)
    w = torch.randn(4, generator=g, dtype=torch.float64)
    with torch.no_grad():
        grad = _call("1.2 least_squares_grad (runs without autograd)", fn, w.clone(), X, y)
    checks.check_shape("1.2 shape", grad, (4,))
    w_auto = w.clone().requires_grad_(True)
    _least_squares_loss(w_auto, X, y).backward()
    auto_err = checks.max_rel_error(grad, w_auto.grad)
    checks.check_rel_error("1.2 vs autograd", grad, w_auto.grad, 1e-10)

    def f(v: np.ndarray) -> float:
        return float(_least_squares_loss(torch.as_tensor(v), X, y))

    fd = checks.centred_difference_grad(f, w, eps=1e-6)
    fd_err = checks.max_rel_error(grad, fd)
    checks.check_rel_error("1.2 vs centred differences", grad, fd, 1e-7)
    return {"grad_rel_error_autograd": auto_err, "grad_rel_error_finite_diff": fd_err}


# --- 1.3 linear regression by gradient descent --------------------------------------------------


def linear_data(n: int = 200, d: int = 3, noise: float = 0.1, seed: int = 13
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic data y = X w_true + 0.5 + noise, w_true = (1, -2, 3, ...).

    Returns X (n, d) and y (n,), float32.
    """
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


#: Check 1.3 runs 300 steps with learning rate 0.1 on ``linear_data()``.
GD_LR, GD_STEPS = 0.1, 300
#: losses[k] of a correct solution on that input, for a few steps k (recorded; float32 training).
RECORDED_GD_LOSSES = {0: 15.6990738, 1: 9.53436184, 2: 5.81053114, 10: 0.133510917,
                      100: 0.00937839039}
#: All losses of a correct solution with half that step size for 7 steps (recorded in float64): a
#: second call, so that a step size or number of steps copied from the notebook shows.
RECORDED_GD_LOSSES_HALF_LR = (15.69907493, 12.42298786, 9.836992511, 7.794551965, 6.180472165,
                              4.90415443, 3.894308888)


def check_linear_gd(fn: Callable[..., Any], *, atol: float = 1e-3) -> dict[str, float]:
    """``fn(X, y, lr, num_steps)`` must return (w, b, losses) of gradient descent on the MSE.

    Gradient descent starts at w = 0, b = 0; ``losses[k]`` is the mean squared
    error at the weights after k steps (before step k + 1), a plain number.
    Checks: one loss per step; the losses as recorded for a few steps (relative
    error 1e-4: float32 sums differ in the last bits between machines); the
    losses never increase (this step size is below 2 / the largest curvature);
    (w, b) within ``atol`` of the closed-form solution ``torch.linalg.lstsq``.
    """
    X, y = linear_data()
    w, b, losses = _call("1.3 fit_linear_gd", fn, X, y, GD_LR, GD_STEPS)
    checks.check_equal("1.3 one loss per step", len(losses), GD_STEPS)
    plain = all(isinstance(v, (int, float)) or (torch.is_tensor(v) and v.numel() == 1
                                                  and _no_graph(v)) for v in losses)
    checks.check_true("1.3 losses are plain numbers", plain,
                      f"first entry is {type(losses[0]).__name__}"
                      + ("" if plain else " holding a graph: append loss.item()"))
    values = np.array([float(v) for v in losses])
    steps = sorted(RECORDED_GD_LOSSES)
    recorded = np.array([RECORDED_GD_LOSSES[k] for k in steps])
    checks.check_rel_error(f"1.3 losses at steps {steps} vs recorded", values[steps],
                           recorded, 1e-4)
    rises = float(np.max(np.diff(values))) if len(values) > 1 else 0.0
    checks.check_less("1.3 losses never increase", rises, 1e-6,
                      what="largest rise between steps")
    w_ls, b_ls = lstsq_with_bias(X, y)
    theta = torch.cat([torch.as_tensor(w).detach().double().ravel(),
                       torch.as_tensor(b).detach().double().reshape(-1)])
    theta_ls = torch.cat([w_ls, b_ls.reshape(1)])
    checks.check_close("1.3 (w, b) vs lstsq", theta, theta_ls, atol=atol)
    checks.check_equal("1.3 shapes of w and b (b a 0-d scalar)",
                       (tuple(torch.as_tensor(w).shape), tuple(torch.as_tensor(b).shape)),
                       ((X.shape[1],), ()))
    # the arguments are used, not the notebook's values: another step size and number of steps
    lr, num_steps = GD_LR / 2, len(RECORDED_GD_LOSSES_HALF_LR)
    _, _, short = _call("1.3 fit_linear_gd", fn, X, y, lr, num_steps)
    expected = np.array(RECORDED_GD_LOSSES_HALF_LR)
    got = np.array([float(v) for v in short]) if len(short) == num_steps else np.full(num_steps, np.nan)
    checks.check_rel_error(f"1.3 with lr={lr:g} and num_steps={num_steps}: losses vs recorded", got,
                           expected, 1e-4)
    return {"linear_gd_max_abs_error": float((theta - theta_ls).abs().max())}


# --- 1.4 nn.Module ------------------------------------------------------------------------------

#: Sizes of the small MLP of check 1.4 (all different, so each layer's place shows).
MLP_SIZES = {"n_in": 5, "n_hidden": 4, "n_out": 3, "batch": 6}


def _dyadic(shape: tuple[int, ...], salt: int, scale: int) -> torch.Tensor:
    """Fixed float64 entries (k - 8) / scale, k = (7 i + 3 j + salt) mod 17 (exact in float64)."""
    i, j = np.indices(shape)
    return torch.tensor(((7 * i + 3 * j + salt) % 17 - 8) / scale, dtype=torch.float64)


def mlp_check_input() -> torch.Tensor:
    """The fixed (6, 5) float64 input of check 1.4."""
    return _dyadic((MLP_SIZES["batch"], MLP_SIZES["n_in"]), salt=0, scale=4)


def set_mlp_check_weights(net: nn.Module) -> nn.Module:
    """Make ``net`` float64 and give fc1, fc2, fc3 fixed dyadic weights; returns ``net``."""
    net.double()
    with torch.no_grad():
        for salt, layer in enumerate((net.fc1, net.fc2, net.fc3)):
            layer.weight.copy_(_dyadic(tuple(layer.weight.shape), salt=2 * salt, scale=8))
            layer.bias.copy_(_dyadic((1, layer.bias.shape[0]), salt=2 * salt + 1, scale=8)[0])
    return net


def dropout_check_mask() -> torch.Tensor:
    """The fixed (6, 4) mask of check 1.4's stand-in dropout: 0 or 2 (= 1 / (1 - 0.5))."""
    i, j = np.indices((MLP_SIZES["batch"], MLP_SIZES["n_hidden"]))
    return torch.tensor(2.0 * ((i + 2 * j + 2) % 3 != 0), dtype=torch.float64)


class FixedDropout(nn.Module):
    """Stand-in for ``nn.Dropout(0.5)`` in check 1.4: in training mode it multiplies by
    :func:`dropout_check_mask` (a fixed pattern instead of a random one), in eval mode
    it passes its input on. It records the shape of every input it sees.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, ...]] = []

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(h.shape))
        mask = dropout_check_mask()
        if not self.training or tuple(h.shape) != tuple(mask.shape):
            return h
        return h * mask


#: Outputs (6, 3) of a correct MLP on mlp_check_input() with set_mlp_check_weights (recorded).
RECORDED_MLP_EVAL = (
    (1.5419921875, -3.9326171875, 0.537109375),
    (0.2705078125, 0.1064453125, 0.091796875),
    (0.7685546875, 0.853515625, -0.60546875),
    (2.1083984375, -3.5615234375, 1.044921875),
    (0.0576171875, -0.349609375, 0.48828125),
    (1.68359375, -3.83984375, 0.6640625),
)
#: The same in training mode, with FixedDropout in place of nn.Dropout (recorded).
RECORDED_MLP_TRAIN = (
    (3.98046875, -4.35546875, 2.1171875),
    (-1.203125, 4.96875, -2.9375),
    (5.171875, -5.546875, 2.59375),
    (7.32421875, -7.7421875, 3.22265625),
    (-0.50390625, 0.7734375, -0.140625),
    (7.171875, -14.484375, 1.3125),
)


def _linear_param_count(n_in: int, n_out: int) -> int:
    return (n_in + 1) * n_out  # weights and biases


def check_mlp_forward(mlp_class: type, *, n_in: int = 40, n_hidden: int = 32, n_out: int = 10,
              p_drop: float = 0.5) -> dict[str, float]:
    """``mlp_class(n_in, n_hidden, n_out, p_drop)``, with the layers ``fc1, fc2, fc3`` and
    ``drop`` of the notebook's ``__init__``, must compute the forward pass the
    notebook describes.

    Checks: the parameter count; on a small float64 copy with fixed weights,
    the outputs in eval mode and in training mode (with ``drop`` replaced by
    :class:`FixedDropout`) against recorded values; where dropout was applied;
    that the full-size model is not affine; and that real dropout makes two
    training-mode passes differ.
    """
    torch.manual_seed(14)
    net = _call("1.4 MLP(...)", mlp_class, n_in, n_hidden, n_out, p_drop)
    expected_params = (_linear_param_count(n_in, n_hidden) + _linear_param_count(n_hidden, n_hidden)
                       + _linear_param_count(n_hidden, n_out))
    checks.check_param_count("1.4 parameter count", net, expected_params)
    x = torch.randn(8, n_in, generator=_generator(14))
    net.eval()
    with torch.no_grad():
        checks.check_shape("1.4 output shape", _call("1.4 MLP.forward", net, x), (8, n_out))
    checks.check_nonlinear("1.4 not affine", net, x[:4], x[4:])
    net.train()
    with torch.no_grad():
        first, second = net(x), net(x)
    gap = float((first - second).abs().max())
    checks.check_greater("1.4 dropout in train mode", gap, 0.0, what="max |pass 1 - pass 2|")

    sizes = MLP_SIZES
    small = set_mlp_check_weights(mlp_class(sizes["n_in"], sizes["n_hidden"], sizes["n_out"], 0.5))
    small.drop = FixedDropout()
    x_small = mlp_check_input()
    small.eval()
    with torch.no_grad():
        out_eval = _call("1.4 MLP.forward", small, x_small)
    checks.check_close("1.4 eval mode vs recorded outputs", out_eval,
                       torch.tensor(RECORDED_MLP_EVAL), atol=1e-12)
    small.drop.seen.clear()
    small.train()
    with torch.no_grad():
        out_train = _call("1.4 MLP.forward", small, x_small)
    hidden = (sizes["batch"], sizes["n_hidden"])
    seen = small.drop.seen
    placed = seen == [hidden, hidden]
    checks.check_true("1.4 dropout after each hidden layer", placed,
                      f"self.drop applied to inputs of shapes {seen}"
                      + ("" if placed else f"; expected the two hidden layers' {[hidden, hidden]}"))
    checks.check_close("1.4 train mode (fixed dropout mask) vs recorded outputs", out_train,
                       torch.tensor(RECORDED_MLP_TRAIN), atol=1e-12)
    return {"mlp_params": checks.count_params(net)}


# --- 1.5 Dataset --------------------------------------------------------------------------------


#: Item 7 of check_dataset's data, standardised, as a correct Dataset returns it (recorded).
RECORDED_ITEM7 = [-0.44469798945179534, 0.11568986380183816, -0.8548458298483342,
                  1.8013733552002922, 0.43358076529779094, 0.8822513394308815]


def check_dataset(dataset_class: type, *, batch_size: int = 8) -> dict[str, float]:
    """``dataset_class(x, y, mean, std)`` must give item i = ((x[i] - mean) / std as float32,
    y[i] as an int64 tensor).

    The data here have their own mean and std (not MNIST-1D's). Also checks
    that a shuffling DataLoader over it yields (B, L) and (B,) batches and
    visits every example exactly once per epoch.
    """
    name = "1.5 Dataset"
    rng = np.random.default_rng(15)
    x = 3.0 + 2.0 * rng.normal(size=(30, 6))
    y = rng.integers(0, 10, size=30)
    mean, std = x.mean(axis=0), x.std(axis=0)
    ds = _call(name, dataset_class, x, y, mean, std)
    checks.check_equal("1.5 len", _call("1.5 len", len, ds), 30)
    item = _call("1.5 __getitem__", ds.__getitem__, 7)
    pair = isinstance(item, (tuple, list)) and len(item) == 2
    checks.check_true("1.5 item is a pair", pair, f"item 7 is a {type(item).__name__}"
                      + ("" if pair else ", not (signal, label)"))
    xi, yi = item
    dtypes_ok = (torch.is_tensor(xi) and xi.dtype == torch.float32
                 and torch.is_tensor(yi) and yi.dtype == torch.int64)
    checks.check_true("1.5 item dtypes", dtypes_ok,
                      f"signal {type(xi).__name__} {_dtype_name(xi)}, label {type(yi).__name__} "
                      f"{_dtype_name(yi)} (want torch.float32, torch.int64 tensors)")
    checks.check_close("1.5 item 7 standardised vs recorded", xi, torch.tensor(RECORDED_ITEM7), atol=1e-5)
    checks.check_equal("1.5 item 7 label", int(yi), int(y[7]))
    # the statistics passed in, not the data's own: those of the first 10 rows
    mean10, std10 = x[:10].mean(axis=0), x[:10].std(axis=0)
    other = _call(name, dataset_class, x, y, mean10, std10)
    xo = _call("1.5 __getitem__", other.__getitem__, 7)[0]
    checks.check_close("1.5 standardises with the mean and std it is given (of 10 rows)", xo,
                       torch.tensor((x[7] - mean10) / std10, dtype=torch.float32), atol=1e-5)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, generator=_generator(15))
    xb, yb = next(iter(loader))
    checks.check_equal("1.5 batch shapes", (tuple(xb.shape), tuple(yb.shape)),
                       ((batch_size, 6), (batch_size,)))
    seen_x = torch.cat([xb for xb, _ in loader]).double()
    seen_y = torch.cat([yb for _, yb in loader])
    # Every example once: the sorted labels and the column sums of one epoch match the data's.
    same_labels = bool(torch.equal(seen_y.sort().values, torch.as_tensor(np.sort(y))))
    sums_err = float(seen_x.sum(0).abs().max())  # standardised columns sum to 0 over all examples
    checks.check_true("1.5 one epoch covers all", same_labels and sums_err < 1e-4,
                      f"{len(seen_y)} examples, labels {'match' if same_labels else 'differ'}, "
                      f"sums {sums_err:.0e}")
    return {"dataset_len": len(ds)}


# --- 1.6 the training loop ----------------------------------------------------------------------

#: Check 1.6: 100 examples in batches of 32, 32, 32 and 4 (an uneven last batch).
EPOCH_EXAMPLES, EPOCH_BATCH = 100, 32


def epoch_check_setup() -> tuple[nn.Module, DataLoader, Callable, torch.optim.Optimizer]:
    """The fixed start of check 1.6: (model, loader, loss_fn, optimizer), all float64.

    The model (3 -> 4 -> 2, batch norm after the first layer) behaves differently
    in training and eval mode without any randomness; it is handed over in eval
    mode. Its weights and the data come from fixed formulas and NumPy's PCG64.
    """
    rng = np.random.default_rng(16)
    X = torch.tensor(rng.random((EPOCH_EXAMPLES, 3)) * 2 - 1)
    y = (X[:, 0] + 0.5 * X[:, 1] > X[:, 2]).long()
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2)).double()
    with torch.no_grad():
        for salt, p in enumerate(model.parameters()):
            shape = tuple(p.shape) if p.dim() == 2 else (1, p.shape[0])
            p.copy_(_dyadic(shape, salt=salt, scale=8).reshape(p.shape))
    model.eval()
    loader = DataLoader(TensorDataset(X, y), batch_size=EPOCH_BATCH, shuffle=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, loader, nn.CrossEntropyLoss(), optimizer


#: Parameters (in model.parameters() order, flattened) after one correct epoch (recorded).
RECORDED_EPOCH_PARAMS = (
    -1.00950285342, -0.620115849147, -0.223677858583, -0.145152097097, 0.238584025139,
    0.625394567731, 0.753817597433, -0.995989083884, -0.626829135404, -0.476302122859,
    -0.1258707414, 0.295736716902, -0.875, -0.5, -0.125,
    0.25, -0.796211767992, -0.429795363056, -0.175975461414, 0.574875881948,
    -0.593088334911, -0.206690130039, 0.113298867191, 0.552185055277, -0.51718078938,
    -0.135914433075, 0.251748977751, 0.708524584272, 0.39218078938, 0.760914433075,
    -1.00174897775, -0.708524584272, -0.37686616504, 0.0018661650401,
)
#: The mean loss per example that a correct epoch returns (recorded).
RECORDED_EPOCH_LOSS = 0.496266192075


@contextlib.contextmanager
def _counting_steps(optimizer: torch.optim.Optimizer) -> Iterator[dict[str, int]]:
    counts = {"step": 0}
    original = optimizer.step

    def step(*args: Any, **kwargs: Any) -> Any:
        counts["step"] += 1
        return original(*args, **kwargs)

    optimizer.step = step
    try:
        yield counts
    finally:
        del optimizer.step


def check_train_epoch(fn: Callable[..., float]) -> dict[str, float]:
    """``fn(model, loader, loss_fn, optimizer)`` must train one epoch and return the mean
    loss per example (each batch's loss weighted by its size).

    Run from the fixed start of :func:`epoch_check_setup` (handed over in eval
    mode, with an uneven last batch); compared with the recorded result of a
    correct loop: the number of optimiser steps, the weights afterwards, the
    returned loss, and training mode.
    """
    model, loader, loss_fn, optimizer = epoch_check_setup()
    with _counting_steps(optimizer) as counts:
        loss = _call("1.6 train_epoch", fn, model, loader, loss_fn, optimizer)
    checks.check_equal("1.6 optimizer steps (one per batch)", counts["step"], len(loader))
    is_number = _no_graph(loss) and isinstance(loss, (int, float, torch.Tensor))
    checks.check_true("1.6 returns a number", is_number,
                      f"returned {type(loss).__name__}"
                      + ("" if is_number else ": return a float (loss.item()), not a graph"))
    params = torch.cat([p.detach().ravel() for p in model.parameters()])
    recorded = torch.tensor(RECORDED_EPOCH_PARAMS, dtype=torch.float64)
    checks.check_close("1.6 weights after one epoch vs recorded", params, recorded, atol=1e-9)
    checks.check_close("1.6 mean loss per example vs recorded", float(loss), RECORDED_EPOCH_LOSS,
                       atol=1e-9)
    checks.check_true("1.6 model left in training mode", model.training,
                      f"model.training is {model.training}")
    return {"train_epoch_weight_error": float((params - recorded).abs().max())}


# --- 1.7 devices --------------------------------------------------------------------------------


class DeviceProbe(nn.Module):
    """A model on a device of choice that records how it was called.

    Its forward refuses inputs that are not on its device or not its dtype, and
    records ``(device, dtype, grad_enabled, training)`` of each call. On the
    ``meta`` device (shapes but no data) it lets a CPU-only machine see whether
    code moves its inputs to the model's device. It returns zeros on the CPU.
    """

    def __init__(self, device: str, n_in: int = 5, n_out: int = 3):
        super().__init__()
        self.layer = nn.Linear(n_in, n_out, device=device)
        self.n_out = n_out
        self.calls: list[tuple[str, torch.dtype, bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.layer.weight
        self.calls.append((x.device.type, x.dtype, torch.is_grad_enabled(), self.training))
        if x.device != w.device or x.dtype != w.dtype:
            raise RuntimeError(f"input on {x.device} ({x.dtype}) but the model is on {w.device} "
                               f"({w.dtype})")
        return torch.zeros(len(x), self.n_out, device="cpu")


def predict_check_setup() -> tuple[nn.Module, np.ndarray]:
    """The model and input of check 1.7: a 5 -> 8 -> 3 network with dropout, fixed dyadic
    float32 weights, in training mode; X (6, 5) float64 of multiples of 1/4 (all exact)."""
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    with torch.no_grad():
        for salt, p in enumerate(model.parameters()):
            shape = tuple(p.shape) if p.dim() == 2 else (1, p.shape[0])
            p.copy_(_dyadic(shape, salt=salt + 3, scale=8).reshape(p.shape).float())
    model.train()
    return model, _dyadic((6, 5), salt=9, scale=4).numpy()


#: Outputs (6, 3) of the model of predict_check_setup in eval mode on its X (recorded).
RECORDED_PREDICT = (
    (0.4375, 3.1953125, -0.6875),
    (-4.8125, -0.4453125, 3.921875),
    (3.078125, -1.875, 2.0703125),
    (-2.203125, 2.65625, -1.1171875),
    (-1.296875, 1.90625, -3.921875),
    (0.640625, 3.1953125, -0.625),
)


def check_predict(fn: Callable[[nn.Module, Any], torch.Tensor],
                  device: torch.device | str = "cpu") -> dict[str, float]:
    """``fn(model, X)`` must move ``X`` (a float64 NumPy array) to the model's device and dtype,
    run the model in eval mode without recording a graph, and return the outputs on the CPU.

    Tried with the network of :func:`predict_check_setup` on ``device`` (handed over
    in training mode, with dropout; outputs compared with recorded ones) and with a
    :class:`DeviceProbe` on the ``meta`` device. The model itself must stay where it is.
    """
    name = "1.7 predict"
    device = torch.device(device)
    model, X = predict_check_setup()
    model.to(device)
    out = _call(name, fn, model, X)
    on_cpu = isinstance(out, torch.Tensor) and out.device.type == "cpu" and not out.requires_grad
    checks.check_true("1.7 output on the CPU, no graph", on_cpu,
                      f"{type(out).__name__} on {getattr(out, 'device', '?')}, "
                      f"requires_grad {getattr(out, 'requires_grad', '?')}")
    model_device = next(model.parameters()).device
    checks.check_equal("1.7 model stays on its device", model_device.type, device.type)
    checks.check_close("1.7 outputs (eval mode) vs recorded", out,
                       torch.tensor(RECORDED_PREDICT, dtype=torch.float32), atol=1e-5)

    # the model's dtype, not float32 always: the same network in float64 (on the CPU, which has it)
    model64 = predict_check_setup()[0].double()
    out64 = _call(name, fn, model64, X)
    same = isinstance(out64, torch.Tensor) and out64.dtype == torch.float64
    checks.check_true("1.7 a float64 model gets float64 inputs (and gives float64 outputs)", same,
                      f"outputs {_dtype_name(out64)}")

    probe = DeviceProbe("meta")
    probe.train()
    _call("1.7 model on the meta device", fn, probe, X)
    calls = probe.calls
    ok = len(calls) >= 1 and all(c == ("meta", torch.float32, False, False) for c in calls)
    got = ", ".join(f"input on {d} {_dtype_name(t)}, grad {'on' if g else 'off'}, "
                    f"{'train' if m else 'eval'} mode" for d, t, g, m in calls) or "never called"
    checks.check_true("1.7 model on the meta device", ok,
                      f"{got} (want meta float32, grad off, eval mode)")
    return {}


# --- 1.8 saving and loading ---------------------------------------------------------------------


@contextlib.contextmanager
def _recording_torch_load() -> Iterator[list[dict[str, Any]]]:
    """Record every call of ``torch.load`` (its file argument and ``weights_only``)."""
    calls: list[dict[str, Any]] = []
    original = torch.load

    def load(f: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(f, "name", f)
        weights_only = kwargs.get("weights_only")  # None means the default, True since torch 2.6
        calls.append({"file": str(name),
                      "weights_only": weights_only is None or bool(weights_only)})
        return original(f, *args, **kwargs)

    torch.load = load
    try:
        yield calls
    finally:
        torch.load = original


def check_save_and_load(fn: Callable[[nn.Module, Callable[[], nn.Module], Path], nn.Module]
                        ) -> dict[str, float]:
    """``fn(model, make_model, path)`` must save the weights of ``model`` to the file ``path`` and
    return a new model from ``make_model()`` that holds the weights read back from that file
    (loaded with ``weights_only=True``).

    Checks: a new model object; the file holds a plain state_dict (names to
    tensors); ``torch.load`` read that file with ``weights_only=True``; the
    returned model computes exactly what ``model`` computes.
    """
    name = "1.8 save and load"

    def make_model() -> nn.Module:
        return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))

    torch.manual_seed(18)
    model = make_model()
    x = torch.randn(5, 4, generator=_generator(18))
    with torch.no_grad():
        saved_outputs = model(x)  # what the weights as saved compute
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights.pt"
        with _recording_torch_load() as loads, _changing_model_after_save(model):
            loaded = _call(name, fn, model, make_model, path)
        new = loaded is not model and isinstance(loaded, nn.Module)
        checks.check_true("1.8 a new model object", new,
                          f"returned {'a new' if loaded is not model else 'the same'} "
                          f"{type(loaded).__name__}")
        try:
            state = torch.load(path, weights_only=True)
            plain = isinstance(state, dict) and all(torch.is_tensor(v) for v in state.values())
            detail = (f"{path.name} holds {len(state)} tensors" if plain
                      else f"{path.name} holds a {type(state).__name__}")
        except Exception as err:  # noqa: BLE001 - a missing file or a pickled model ends up here
            plain, detail = False, f"{path.name} is not a plain state_dict ({type(err).__name__})"
        checks.check_true("1.8 file is a state_dict", plain, detail)
    from_file = [c for c in loads if Path(c["file"]).name == path.name]
    safe = bool(from_file) and all(c["weights_only"] for c in from_file)
    if not from_file:
        detail = "torch.load never read the file: load the weights from it, not from the model"
    else:
        detail = f"torch.load read it {len(from_file)} time(s), weights_only=" + ", ".join(
            str(c["weights_only"]) for c in from_file)
    checks.check_true("1.8 weights loaded from the file, weights_only=True", safe, detail)
    with torch.no_grad():
        checks.check_close("1.8 reloaded outputs are the saved weights' (the model itself was "
                           "changed after saving)", loaded(x), saved_outputs, atol=0.0)
    return {}


@contextlib.contextmanager
def _changing_model_after_save(model: nn.Module) -> Iterator[None]:
    """Add 1 to every parameter of ``model`` right after the first ``torch.save``: a copy made from
    the model afterwards no longer has the saved weights, a model loaded from the file does."""
    original = torch.save
    saved = False

    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal saved
        result = original(obj, f, *args, **kwargs)
        if not saved:
            saved = True
            with torch.no_grad():
                for param in model.parameters():
                    param.add_(1.0)
        return result

    torch.save = save
    try:
        yield
    finally:
        torch.save = original


# --- 1.9 reproducibility ------------------------------------------------------------------------


#: Check 1.9: one epoch of a fresh 10-class MLP ends with a mean cross-entropy near ln 10 = 2.30.
SHORT_RUN_LOSS_RANGE = (1.8, 2.8)


def check_reproducible(fn: Callable[[int], float]) -> dict[str, float]:
    """``fn(seed)`` must return the mean training loss of its short run: the same number
    twice for the same seed, another number for another seed, and a value in
    ``SHORT_RUN_LOSS_RANGE`` (a network that has just started to learn ten classes)."""
    name = "1.9 reproducibility"
    a, b, c = (float(_call(name, fn, s)) for s in (0, 0, 1))
    low, high = SHORT_RUN_LOSS_RANGE
    plausible = all(low < v < high for v in (a, c))
    checks.check_true("1.9 a mean cross-entropy near ln 10", plausible,
                      f"run(0) = {a:.6g}, run(1) = {c:.6g} "
                      f"({'in' if plausible else 'outside'} {low:g}..{high:g})")
    checks.check_true("1.9 same seed, same result", a == b, f"run(0) = {a:.6g}, again {b:.6g}")
    checks.check_true("1.9 other seed, other result", a != c,
                      f"run(1) = {c:.6g} vs run(0) = {a:.6g}")
    return {"repro_loss_seed0": a, "repro_loss_seed1": c}


# --- the story checks of sections 3, 6 and 8 ----------------------------------------------------


def check_linear_three_ways(theta_gd: Any, theta_nn: Any, theta_ls: Any, *, atol: float = 1e-3
                            ) -> dict[str, float]:
    """Section 3: (w, b) from gradient descent by hand and from nn.Linear + SGD, each within
    ``atol`` of the closed form. Each argument is the vector (w_1, ..., w_D, b)."""
    theta_ls = torch.as_tensor(theta_ls).double()
    errors = {}
    for what, theta in (("gradient descent", theta_gd), ("nn.Linear + SGD", theta_nn)):
        theta = torch.as_tensor(theta).detach().double()
        checks.check_close(f"section 3: {what} vs lstsq", theta, theta_ls, atol=atol)
        errors[what] = float((theta - theta_ls).abs().max())
    return {"linear_three_ways_max_abs_diff": max(errors.values())}


#: Section 6: the validation accuracy Adam must exceed (chance is 0.1), full and quick mode.
#: Seeds 0-4 on two CPU code paths gave 0.51-0.58 (full) and 0.25-0.30 (quick, seeds 0-2).
ADAM_ACCURACY_BOUND = {False: 0.4, True: 0.15}


def check_adam_beats_chance(history: Any, quick: bool) -> dict[str, float]:
    """Section 6: the final validation accuracy of the Adam run (a ``training.History``)
    exceeds ``ADAM_ACCURACY_BOUND[quick]``, well above chance (0.1 for ten classes)."""
    value = history.last("val_accuracy")
    checks.check_greater("section 6: Adam validation accuracy", value, ADAM_ACCURACY_BOUND[bool(quick)],
                         what="accuracy")
    return {"adam_val_accuracy_bound": ADAM_ACCURACY_BOUND[bool(quick)]}


def check_same_predictions(reloaded: torch.Tensor, original: torch.Tensor) -> dict[str, float]:
    """Section 8: a reloaded model's outputs equal the original's, bit for bit. Both (N, C)."""
    same = torch.equal(torch.as_tensor(reloaded), torch.as_tensor(original))
    checks.check_true("section 8: reloaded Adam model", same,
                      f"{'same' if same else 'different'} outputs on {len(original)} test signals")
    return {}
