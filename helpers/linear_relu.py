"""Problem 2: least squares vs a bias-free ReLU network on non-negative features.

The network family of the sheet, in its row-vector convention: for an input
``x`` of shape (D,),

    h_0 = x,   h_l = ReLU(h_{l-1} @ W_l)  (l = 1..L),   f_W(x) = h_L @ W_{L+1},

with ``W_l`` of shape (D, D) for the L hidden layers and ``W_{L+1}`` of shape
(D, 1). A network is a list ``[W_1, ..., W_L, W_{L+1}]`` of float64 arrays.
Both losses are the sheet's ``1/2 * sum of squared residuals`` (not the mean).

Used by ``notebooks/02_homework_linear_vs_relu.ipynb``:

* least squares in closed form and by gradient descent, and their check
  (section 2, ``check_least_squares``);
* the checks of the two code exercises: ``check_realises_linear`` and
  ``check_construction_on_data`` (Problem 2a), ``check_strict_example`` (Problem 2b);
* full-batch Adam on many seeds at once, in numpy, and the checks of what
  the runs show (section 3). It implements the update of ``torch.optim.Adam``
  with its defaults; ``tests/test_linear_relu.py`` compares gradient and step
  with torch. Plain numpy is used because on a small CPU the per-operation
  overhead of autograd dominates these tiny networks (about ten times slower here).

Every ``check_*`` prints one ``[PASS]/[FAIL]`` line through
:func:`helpers.checks.report` and raises :class:`helpers.checks.CheckFailed` on FAIL.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .checks import (
    CheckFailed,
    check_close,
    check_equal,
    check_greater,
    check_less,
    check_rel_error,
    check_true,
    report,
)

Weights = list  # [W_1 (D, D), ..., W_L (D, D), W_{L+1} (D, 1)]

#: Bound on the relative error of the construction of answer a) (float64).
CONSTRUCTION_TOL = 1e-10


# --- the two models -------------------------------------------------------------------------------


def relu_network(weights: Sequence[np.ndarray], X: np.ndarray) -> np.ndarray:
    """Outputs of the network ``weights`` on the rows of ``X``.

    weights: [W_1 (D, D), ..., W_L (D, D), W_{L+1} (D, 1)]; X: (N, D). Returns (N,).
    """
    h = np.asarray(X, dtype=np.float64)
    for W in weights[:-1]:
        h = np.maximum(h @ W, 0.0)
    return (h @ weights[-1])[:, 0]


def ls_loss(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    """Least-squares loss 1/2 sum_n (x_n^T w - y_n)^2. w: (D,), X: (N, D), y: (N,)."""
    r = X @ w - y
    return 0.5 * float(r @ r)


def network_loss(weights: Sequence[np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
    """Network loss 1/2 sum_n (f_W(x_n) - y_n)^2. X: (N, D), y: (N,)."""
    r = relu_network(weights, X) - y
    return 0.5 * float(r @ r)


# --- least squares --------------------------------------------------------------------------------


def least_squares(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Global minimiser of the least-squares loss and its value.

    Solves the normal equations X^T X w = X^T y; ``np.linalg.lstsq`` does it by
    an SVD, which also covers rank-deficient X (then the minimum-norm minimiser).
    X: (N, D), y: (N,). Returns (w (D,), loss).
    """
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    return w, ls_loss(w, X, y)


def least_squares_gd(
    X: np.ndarray, y: np.ndarray, *, tol: float = 1e-13, max_steps: int = 200_000
) -> tuple[np.ndarray, int]:
    """Least squares by plain gradient descent from w = 0.

    The gradient is X^T (X w - y). On this quadratic, gradient descent with a
    fixed step decreases the loss monotonically for every step below
    2 / lambda_max(X^T X); the step used here, 1 / lambda_max, lies safely
    inside that range. Stops when ||gradient|| <= tol * ||X^T y||.
    X: (N, D), y: (N,). Returns (w (D,), steps taken).
    """
    A, b = X.T @ X, X.T @ y
    step = 1.0 / np.linalg.eigvalsh(A)[-1]
    w = np.zeros(X.shape[1])
    stop = tol * max(np.linalg.norm(b), 1e-300)
    for k in range(max_steps):
        grad = A @ w - b
        if np.linalg.norm(grad) <= stop:
            return w, k
        w = w - step * grad
    return w, max_steps


def check_least_squares(name: str, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Section 2: the closed form (:func:`least_squares`) against gradient descent
    (:func:`least_squares_gd`): the weights within relative error 1e-8, the losses
    within 1e-12. X: (N, D), y: (N,). Returns (w_LS* (D,), L_LS*) of the closed form.
    """
    w_cf, loss_cf = least_squares(X, y)
    w_gd, steps = least_squares_gd(X, y)
    check_rel_error(
        f"{name}: w_LS, gradient descent ({steps} steps) vs closed form", w_gd, w_cf, 1e-8
    )
    check_close(f"{name}: L_LS(w_gd) vs L_LS*", ls_loss(w_gd, X, y), loss_cf, rtol=1e-12)
    return w_cf, loss_cf


# --- checks of the exercises ----------------------------------------------------------------------


def scale_relative_error(actual: np.ndarray, X: np.ndarray, w: np.ndarray) -> float:
    """max_n |actual_n - x_n^T w| / max_n |x_n|^T |w|.

    The natural relative error of a dot product: rounding changes x^T w by about
    D * eps * |x|^T |w|, which can be far larger than |x^T w| itself when terms
    cancel, so an entrywise relative error would blow up near x^T w = 0.
    actual: (N,), X: (N, D), w: (D,).
    """
    scale = float(np.max(np.abs(X) @ np.abs(w))) if X.size else 0.0
    error = float(np.max(np.abs(np.asarray(actual) - X @ w))) if X.size else 0.0
    return error / scale if scale > 0 else error


def _check_family(weights: Sequence[np.ndarray], D: int, L: int) -> None:
    """Raise CheckFailed unless ``weights`` is a network of the family (width D, L layers)."""
    shapes = [tuple(np.shape(W)) for W in weights]
    expected = [(D, D)] * L + [(D, 1)]
    if shapes != expected:
        raise CheckFailed(
            f"weights have shapes {shapes}, the family with D={D}, L={L} needs {expected}"
        )


def construction_error(
    build: Callable[[np.ndarray, int], Weights], w: np.ndarray, L: int, X: np.ndarray
) -> float:
    """Relative error (:func:`scale_relative_error`) of the network ``build(w, L)`` vs x -> x^T w.

    build: (w (D,), L) -> weights; X: (N, D) with X >= 0. Raises CheckFailed on wrong shapes.
    """
    weights = [np.asarray(W, dtype=np.float64) for W in build(np.array(w, dtype=np.float64), L)]
    _check_family(weights, len(w), L)
    return scale_relative_error(relu_network(weights, X), X, w)


def check_realises_linear(
    name: str,
    build: Callable[[np.ndarray, int], Weights],
    *,
    seed: int = 0,
    cases: int = 200,
    max_width: int = 6,
    max_depth: int = 4,
    points: int = 50,
) -> bool:
    """Problem 2a: ``build(w, L)`` returns weights of the family computing x -> x^T w on x >= 0.

    Draws ``cases`` random problems: width D in 1..max_width (D = 1 included),
    depth L in 1..max_depth, w ~ N(0, 1): for D >= 2 mostly of mixed sign (at least
    one entry of each), and also all positive, all negative, or with an entry of
    exactly zero; X (points, D) uniform on [0, 2] with one all-zero row.
    Passes when the worst relative error is at most ``CONSTRUCTION_TOL``.
    """
    rng = np.random.default_rng(seed)
    worst, widths, depths = 0.0, set(), set()
    for case in range(cases):
        D = 1 + case % max_width  # every width appears
        L = int(rng.integers(1, max_depth + 1))
        w = rng.standard_normal(D)
        signs = (case // max_width) % 6  # each width meets every sign pattern
        if D >= 2 and signs == 3:
            w = np.abs(w)  # all positive: a construction must not rely on a negative entry
        elif D >= 2 and signs == 4:
            w = -np.abs(w)  # all negative
        elif D >= 2 and signs == 5:
            w[0], w[1] = abs(w[0]), -abs(w[1])
            w[-1] = 0.0  # an entry of exactly zero
        elif D >= 2:
            w[0], w[1] = abs(w[0]), -abs(w[1])
        elif case % (2 * max_width) == 0:
            w = -np.abs(w)  # D = 1 with a negative weight
        X = rng.uniform(0.0, 2.0, size=(points, D))
        X[0] = 0.0
        try:
            worst = max(worst, construction_error(build, w, L, X))
        except CheckFailed as err:  # wrong shapes: report them as this check's FAIL line
            report(name, False, f"for D={D}, L={L}: {err}")
        except NotImplementedError:
            raise  # the exercise is not done yet
        except Exception as err:  # noqa: BLE001 - the error is the most useful feedback
            message = str(err).splitlines()[0] if str(err) else ""
            report(
                name,
                False,
                f"for D={D}, L={L}, w={np.array2string(w, precision=2)}: "
                f"raised {type(err).__name__}: {message[:120]}",
            )
        widths.add(D)
        depths.add(L)
    ok = bool(np.isfinite(worst)) and worst <= CONSTRUCTION_TOL
    detail = (
        f"max relative error {worst:.3g} {'<=' if ok else '>'} {CONSTRUCTION_TOL:g} "
        f"over {cases} random "
        f"(w, L, X), D in {min(widths)}..{max(widths)}, L in {min(depths)}..{max(depths)}"
    )
    return report(name, ok, detail)


def check_construction_on_data(
    name: str,
    build: Callable[[np.ndarray, int], Weights],
    w: np.ndarray,
    L: int,
    X: np.ndarray,
    y: np.ndarray,
) -> float:
    """Problem 2a on a data set: the network ``build(w, L)`` has the loss L_LS(w) on (X, y),
    relative error at most ``CONSTRUCTION_TOL``. X: (N, D) >= 0, y: (N,). Returns L_NN(build(w, L)).
    """
    weights = [np.asarray(W, dtype=np.float64) for W in build(np.asarray(w, dtype=np.float64), L)]
    _check_family(weights, len(w), L)
    net, lin = network_loss(weights, X, y), ls_loss(w, X, y)
    check_rel_error(name, net, lin, CONSTRUCTION_TOL)
    return net


def check_strict_example(
    name: str, X: np.ndarray, y: np.ndarray, weights: Sequence[np.ndarray], *, min_gap: float = 1e-3
) -> tuple[float, float]:
    """Problem 2b: data and a network as the exercise asks for them.

    Checks, each on its own line: X (N, D) >= 0 with D >= 2 and y of shape (N,);
    ``weights`` a network of the family of width D; the least-squares weights
    w_LS* >= 0 (the hypothesis of b), up to 1e-12; and the network's loss below
    L_LS* - ``min_gap``. Returns (L_NN(weights), L_LS*).
    """
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    shapes_ok = X.ndim == 2 and X.shape[1] >= 2 and y.shape == (X.shape[0],) and X.size > 0
    report(
        f"{name}: X of shape (N, D >= 2), y of shape (N,)", shapes_ok, f"X {X.shape}, y {y.shape}"
    )
    report(f"{name}: X >= 0", bool(np.all(X >= 0)), f"min X = {X.min():.3g}")
    weights = [np.asarray(W, dtype=np.float64) for W in weights]
    try:
        _check_family(weights, X.shape[1], len(weights) - 1)
    except CheckFailed as err:
        report(f"{name}: a network of the family", False, str(err))
    w_ls, best_linear = least_squares(X, y)
    report(
        f"{name}: the hypothesis of b), w_LS* >= 0",
        bool(np.all(w_ls >= -1e-12)),
        f"w_LS* = {np.array2string(w_ls, precision=4)}",
    )
    net = network_loss(weights, X, y)
    ok = net < best_linear - min_gap
    report(
        name,
        ok,
        f"network loss {net:.3g} {'<' if ok else '>='} L_LS* - {min_gap:g} = "
        f"{best_linear - min_gap:.4g} (L_LS* = {best_linear:.4g})",
    )
    return net, best_linear


# --- training: full-batch Adam on S networks at once ----------------------------------------------


def init_networks(D: int, L: int, seeds: Sequence[int]) -> Weights:
    """One network per seed, stacked: [W_1 (S, D, D), ..., W_{L+1} (S, D, 1)].

    Entries uniform on [-1/sqrt(D), 1/sqrt(D)], the default of ``torch.nn.Linear``
    (fan-in D); seed s gives the same network wherever it appears in ``seeds``.
    """
    bound = 1.0 / np.sqrt(D)
    per_seed = []
    for s in seeds:
        rng = np.random.default_rng(s)
        per_seed.append(
            [rng.uniform(-bound, bound, size=(D, D)) for _ in range(L)]
            + [rng.uniform(-bound, bound, size=(D, 1))]
        )
    return [np.stack([net[i] for net in per_seed]) for i in range(L + 1)]


def unstack(weights: Sequence[np.ndarray], s: int) -> Weights:
    """Network number ``s`` of a stack [W_1 (S, D, D), ..., W_{L+1} (S, D, 1)]."""
    return [W[s] for W in weights]


def losses_and_grads(
    weights: Sequence[np.ndarray], X: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, Weights]:
    """Losses 1/2 sum_n (f(x_n) - y_n)^2 of S stacked networks and their gradients (backprop).

    weights: [W_1 (S, D, D), ..., W_{L+1} (S, D, 1)]; X: (N, D); y: (N,).
    Returns (losses (S,), grads with the shapes of ``weights``). ReLU'(0) is
    taken as 0, as in PyTorch, so a unit whose pre-activation is 0 gets no gradient.
    """
    S = weights[0].shape[0]
    hs = [np.broadcast_to(X, (S,) + X.shape)]  # activations h_0 .. h_L, each (S, N, D)
    for W in weights[:-1]:
        hs.append(np.maximum(hs[-1] @ W, 0.0))
    residual = (hs[-1] @ weights[-1])[..., 0] - y  # (S, N)
    losses = 0.5 * np.einsum("sn,sn->s", residual, residual)
    grads: Weights = [None] * len(weights)
    upstream = residual[..., None]  # dLoss/d(output), (S, N, 1)
    grads[-1] = hs[-1].transpose(0, 2, 1) @ upstream
    upstream = upstream @ weights[-1].transpose(0, 2, 1)  # dLoss/dh_L, (S, N, D)
    for l in range(len(weights) - 2, -1, -1):
        upstream = upstream * (hs[l + 1] > 0)  # through ReLU: dLoss/d(pre-activation of layer l+1)
        grads[l] = hs[l].transpose(0, 2, 1) @ upstream
        if l:
            upstream = upstream @ weights[l].transpose(0, 2, 1)
    return losses, grads


def train_adam(
    weights: Sequence[np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    *,
    steps: int,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> tuple[Weights, np.ndarray]:
    """Full-batch Adam on S stacked networks (each its own loss, as S separate runs).

    Same update as ``torch.optim.Adam(params, lr, betas, eps)`` with no weight decay.
    weights: [W_1 (S, D, D), ..., W_{L+1} (S, D, 1)] (not modified); X: (N, D); y: (N,).
    Returns (trained weights, losses (steps + 1, S)): row k is the loss after k steps.
    """
    weights = [np.array(W, dtype=np.float64) for W in weights]
    m = [np.zeros_like(W) for W in weights]
    v = [np.zeros_like(W) for W in weights]
    history = np.empty((steps + 1, weights[0].shape[0]))
    b1, b2 = betas
    for t in range(1, steps + 1):
        losses, grads = losses_and_grads(weights, X, y)
        history[t - 1] = losses
        for W, g, m_i, v_i in zip(weights, grads, m, v):
            m_i *= b1
            m_i += (1 - b1) * g
            v_i *= b2
            v_i += (1 - b2) * g * g
            denom = np.sqrt(v_i) / np.sqrt(1 - b2**t) + eps
            W -= (lr / (1 - b1**t)) * m_i / denom
    history[steps] = losses_and_grads(weights, X, y)[0]
    return weights, history


def dead_start(weights: Sequence[np.ndarray]) -> Weights:
    """The same networks with W_1 replaced by -|W_1|: on x >= 0 every first-layer unit is off."""
    return [-np.abs(weights[0])] + [np.array(W) for W in weights[1:]]


def locally_linear_margin(weights: Sequence[np.ndarray], X: np.ndarray) -> float:
    """How far one network (unstacked) is from leaving a locally linear region.

    If every hidden unit is either active on all rows of X (pre-activation > 0)
    or inactive on all of them (< 0), small weight changes keep that pattern and
    the network stays a linear model near these weights. Returns the smallest
    |pre-activation| over units and rows when that holds, and -1.0 when some
    unit is active on some rows and not on others (or exactly 0 somewhere).
    weights: [W_1 (D, D), ..., W_{L+1} (D, 1)]; X: (N, D).
    """
    h, margin = np.asarray(X, dtype=np.float64), np.inf
    for W in weights[:-1]:
        z = h @ W  # (N, D)
        on, off = np.all(z > 0, axis=0), np.all(z < 0, axis=0)
        if not np.all(on | off):
            return -1.0
        margin = min(margin, float(np.min(np.abs(z))))
        h = np.maximum(z, 0.0)
    return margin


def classify_run(
    weights: Sequence[np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    target_loss: float,
    *,
    tol: float = 1e-6,
) -> str:
    """Where one trained network (unstacked) ended, for the table of section 3.

    ``"global"``: loss within ``tol`` (relative to 1/2 sum y^2) of ``target_loss``
    (the loss of the hand-built network, an upper bound on L_NN*); ``"dead"``:
    the output is 0 on every row of X; ``"linear"``: locally linear
    (:func:`locally_linear_margin` > 0) but not dead; ``"mixed"``: anything else.
    X: (N, D), y: (N,).
    """
    scale = 0.5 * float(y @ y)
    if network_loss(weights, X, y) <= target_loss + tol * scale:
        return "global"
    if np.all(relu_network(weights, X) == 0.0):
        return "dead"
    return "linear" if locally_linear_margin(weights, X) > 0 else "mixed"


def check_grads_match_torch(name: str, *, seed: int = 0, bound: float = 1e-12) -> bool:
    """:func:`losses_and_grads` against PyTorch autograd, in float64.

    On 3 stacked random networks with D = 3, L = 2 and N = 7 data points.
    """
    import torch

    rng = np.random.default_rng(seed)
    X, y = rng.uniform(0.0, 1.0, size=(7, 3)), rng.standard_normal(7)
    weights = init_networks(3, 2, [seed, seed + 1, seed + 2])
    losses, grads = losses_and_grads(weights, X, y)
    params = [torch.tensor(W, requires_grad=True) for W in weights]
    h = torch.tensor(X).expand(3, 7, 3)
    for W in params[:-1]:
        h = torch.relu(h @ W)
    residual = (h @ params[-1])[..., 0] - torch.tensor(y)
    torch_losses = 0.5 * (residual**2).sum(-1)
    torch_losses.sum().backward()
    flat = np.concatenate([losses] + [g.ravel() for g in grads])
    reference = np.concatenate(
        [torch_losses.detach().numpy()] + [p.grad.numpy().ravel() for p in params]
    )
    from .checks import check_rel_error

    return check_rel_error(name, flat, reference, bound)


# --- checks of what the training runs show (section 3) --------------------------------------------

#: Linear data: the median L_NN / L_LS* over the runs lies within this of 1.
LINEAR_RUNS_TOL = 0.05
#: Linear data: no run's L_NN / L_LS* lies below this (fitting noise gains a network little).
LINEAR_FLOOR = 0.8
#: Teacher data: the best run's L_NN / L_LS* lies below this (clearly below 1).
TEACHER_BEST_BOUND = 0.1


def check_linear_and_teacher_runs(ratio_lin: np.ndarray, ratio_relu: np.ndarray) -> None:
    """Section 3, runs 1 and 2: final L_NN / L_LS* per run (arrays (S,)) on the linear data
    (median within ``LINEAR_RUNS_TOL`` of 1, and no run below ``LINEAR_FLOOR``: a network can
    gain over least squares only by fitting some of the noise, and that gains little) and on
    the teacher data (best below ``TEACHER_BEST_BOUND``).

    A run ending slightly below 1 is common but not a claim checked here: over seeds 0-4 the
    smallest ratio came within 0.01 of 1, too close to tell from the spread over seeds.
    """
    check_less(
        "linear data: |median ratio - 1|",
        abs(float(np.median(ratio_lin)) - 1),
        LINEAR_RUNS_TOL,
        what="deviation",
    )
    check_greater(
        "linear data: no run far below L_LS* (smallest ratio)",
        float(np.min(ratio_lin)),
        LINEAR_FLOOR,
        what="ratio",
    )
    check_less(
        "teacher data: best ratio, clearly below 1",
        float(np.min(ratio_relu)),
        TEACHER_BEST_BOUND,
        what="ratio",
    )


def check_dead_start(
    grads: Sequence[np.ndarray], loss_start: float, history: np.ndarray, ls_optimum: float
) -> None:
    """Section 3, run 3: at a dead start every gradient entry is 0 (``grads`` as from
    :func:`losses_and_grads`), Adam never moves (``history`` (steps + 1,) of losses
    ends at ``loss_start``), and that loss lies above L_LS* = ``ls_optimum``."""
    nonzero = int(sum(np.count_nonzero(g) for g in grads))
    check_equal("dead start: non-zero gradient entries", nonzero, 0)
    check_equal(
        "dead start: loss after training = loss at the start", float(history[-1]), float(loss_start)
    )
    check_greater(
        "dead start: final L_NN / L_LS*", float(history[-1]) / ls_optimum, 1.0, what="ratio"
    )


def check_example_runs(ratios: Sequence[float], kinds: Sequence[str]) -> None:
    """Section 3, run 4: final L_NN / L_LS* per start on the example of b) and where each run
    ended (:func:`classify_run`). Runs classified ``linear`` or ``dead`` never beat
    L_LS* (ratio >= 1 - 1e-9), those classified ``linear`` sit at it (|ratio - 1| <= 1e-3),
    and at least one run ends above the hand-built network."""
    flat = [r for r, k in zip(ratios, kinds) if k in ("linear", "dead")]
    smallest = min(flat, default=np.inf)
    check_true(
        "example of b): locally linear runs never beat L_LS*",
        smallest >= 1 - 1e-9,
        f"{len(flat)} runs, smallest ratio {smallest:.6f} >= 1 - 1e-9",
    )
    trapped = [r for r, k in zip(ratios, kinds) if k == "linear"]
    check_true(
        "example of b): runs classified linear sit at L_LS*",
        all(abs(r - 1) <= 1e-3 for r in trapped),
        f"{len(trapped)} runs, |ratio - 1| <= 1e-3",
    )
    check_greater(
        "example of b): runs ending above the hand-built network",
        sum(k != "global" for k in kinds),
        0,
        what="count",
    )
