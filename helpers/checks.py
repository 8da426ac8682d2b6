"""Checks that exercises end with.

Every check compares a figure against a bound or a reference, prints one line

    [PASS] <what was checked>: <figure> <relation> <bound>

and raises :class:`CheckFailed` on FAIL, so a headless run stops loudly at the
first wrong answer. The line format is read back by ``make check``.

Primitives (``check_close``, ``check_less``, ...) take plain numbers, arrays or
tensors. Model checks (``check_param_count``, ``check_grads_reach_params``,
``check_step_lowers_loss``, ``check_nonlinear``) take an ``nn.Module``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

PASS_TAG = "[PASS]"
FAIL_TAG = "[FAIL]"
NOTE_TAG = "[NOTE]"


class CheckFailed(AssertionError):
    """A check's figure is outside its bound."""


#: Every check run in this process, in order: name, verdict and, where the check compares a figure
#: with a bound, the figure, the bound and the relation that must hold (``value <= bound`` ...).
#: :func:`helpers.results.save_results` saves it with a notebook's key figures, so that the
#: portability report (``make portability``) can state each check's margin over many machines.
RECORDED: list[dict[str, Any]] = []


def margin(value: float, relation: str, bound: float) -> float:
    """How far ``value`` is on the passing side of ``bound`` (negative: it fails)."""
    return bound - value if relation in {"<", "<="} else value - bound


def _as_array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # torch tensor, on any device
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _fmt(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.3g}"
    return str(value)


def report(
    name: str,
    passed: bool,
    detail: str,
    *,
    value: float | None = None,
    relation: str | None = None,
    bound: float | None = None,
) -> bool:
    """Print the check's line and record it; raise :class:`CheckFailed` if it did not pass.

    ``value``, ``relation`` and ``bound`` (when the check compares a figure with a
    bound) go into :data:`RECORDED` for the portability report.
    """
    line = f"{PASS_TAG if passed else FAIL_TAG} {name}: {detail}"
    entry: dict[str, Any] = {"name": str(name), "passed": bool(passed)}
    if value is not None and relation is not None and bound is not None and np.isfinite(value):
        entry.update(
            value=float(value),
            relation=relation,
            bound=float(bound),
            margin=margin(float(value), relation, float(bound)),
        )
    RECORDED.append(entry)
    print(line, flush=True)
    if not passed:
        raise CheckFailed(line)
    return True


def max_rel_error(actual: Any, expected: Any) -> float:
    """max |a - e| / max(|a| + |e|, 1e-300), elementwise (the CS231n relative error)."""
    a, e = _as_array(actual), _as_array(expected)
    if a.shape != e.shape:
        raise CheckFailed(f"shapes differ: {a.shape} vs expected {e.shape}")
    denom = np.maximum(np.abs(a) + np.abs(e), 1e-300)
    return float(np.max(np.abs(a - e) / denom)) if a.size else 0.0


def check_close(
    name: str, actual: Any, expected: Any, *, atol: float = 0.0, rtol: float = 0.0
) -> bool:
    """Pass when max |actual - expected| <= atol + rtol * max |expected|."""
    a, e = _as_array(actual), _as_array(expected)
    if a.shape != e.shape:
        return report(name, False, f"shape {a.shape} but expected {e.shape}")
    error = float(np.max(np.abs(a - e))) if a.size else 0.0
    bound = atol + rtol * (float(np.max(np.abs(e))) if e.size else 0.0)
    ok = bool(np.isfinite(error)) and error <= bound
    detail = (
        f"max abs error {_fmt(error)} <= {_fmt(bound)}"
        if ok
        else f"max abs error {_fmt(error)} > bound {_fmt(bound)}"
    )
    if a.size == 1:
        detail += f" (yours {_fmt(float(a.ravel()[0]))}, reference {_fmt(float(e.ravel()[0]))})"
    return report(name, ok, detail, value=error, relation="<=", bound=bound)


def check_rel_error(name: str, actual: Any, expected: Any, bound: float) -> bool:
    """Pass when the relative error (see :func:`max_rel_error`) is at most ``bound``."""
    error = max_rel_error(actual, expected)
    ok = bool(np.isfinite(error)) and error <= bound
    return report(
        name,
        ok,
        f"relative error {_fmt(error)} {'<=' if ok else '>'} {_fmt(bound)}",
        value=error,
        relation="<=",
        bound=bound,
    )


def _fmt_apart(value: float, bound: Any) -> tuple[str, str]:
    """Both numbers with as many significant digits (3 to 10) as it takes to tell them apart in print,
    so that a comparison never reads "2.29 < 2.29"."""
    for digits in range(3, 11):
        a, b = f"{value:.{digits}g}", f"{float(bound):.{digits}g}"
        if a != b:
            return a, b
    return a, b


def check_less(name: str, value: float, bound: float, *, what: str = "value") -> bool:
    """Pass when ``value < bound``."""
    value = float(value)
    ok = bool(np.isfinite(value)) and value < bound
    shown = _fmt_apart(value, bound)
    return report(
        name,
        ok,
        f"{what} {shown[0]} {'<' if ok else '>='} {shown[1]}",
        value=value,
        relation="<",
        bound=bound,
    )


def check_greater(name: str, value: float, bound: float, *, what: str = "value") -> bool:
    """Pass when ``value > bound``."""
    value = float(value)
    ok = bool(np.isfinite(value)) and value > bound
    shown = _fmt_apart(value, bound)
    return report(
        name,
        ok,
        f"{what} {shown[0]} {'>' if ok else '<='} {shown[1]}",
        value=value,
        relation=">",
        bound=bound,
    )


def check_equal(name: str, actual: Any, expected: Any) -> bool:
    """Pass when ``actual == expected`` (for counts, shapes, labels)."""
    ok = bool(actual == expected)
    return report(name, ok, f"{actual!r} {'==' if ok else '!='} expected {expected!r}")


def check_shape(name: str, tensor: Any, expected: Sequence[int]) -> bool:
    """Pass when ``tuple(tensor.shape) == tuple(expected)``."""
    shape = tuple(getattr(tensor, "shape", np.shape(tensor)))
    ok = shape == tuple(expected)
    return report(name, ok, f"shape {shape} {'==' if ok else '!='} expected {tuple(expected)}")


def check_true(name: str, condition: bool, detail: str) -> bool:
    """Pass when ``condition`` holds; ``detail`` says what was compared."""
    return report(name, bool(condition), detail)


def note_within(
    name: str,
    value: float,
    reference: float,
    tolerance: float,
    *,
    reference_name: str = "reference",
    hint: str = "",
) -> bool:
    """Report how far ``value`` is from ``reference``, without stopping: ``[NOTE] ...``.

    For comparisons that say something about the experiment rather than about
    the code (our accuracy against a published one: the sums of a GPU or of
    another seed move it by a few points). Returns whether it is within
    ``tolerance``; ``hint`` is added when it is not.
    """
    value = float(value)
    ok = bool(np.isfinite(value)) and abs(value - reference) <= tolerance
    verdict = (
        f"within {_fmt(tolerance)}"
        if ok
        else f"OUTSIDE {_fmt(tolerance)}" + (f"; {hint}" if hint else "")
    )
    note(
        name,
        f"{_fmt(value)} vs {reference_name} {_fmt(reference)} ({value - reference:+.3g}), "
        f"{verdict}",
    )
    return ok


def note(name: str, detail: str) -> None:
    """Print ``[NOTE] name: detail``: a figure worth reading that does not decide PASS or FAIL."""
    print(f"{NOTE_TAG} {name}: {detail}", flush=True)


def centred_difference_grad(
    f: Callable[[np.ndarray], float], x: Any, eps: float = 1e-6
) -> np.ndarray:
    """Numerical gradient of scalar ``f`` at ``x`` by centred differences, in float64."""
    x = _as_array(x).copy()
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        plus = float(f(x))
        x[i] = old - eps
        minus = float(f(x))
        x[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def check_grad_fd(
    name: str,
    f: Callable[[np.ndarray], float],
    x: Any,
    grad: Any,
    *,
    bound: float = 1e-6,
    eps: float = 1e-6,
) -> bool:
    """Compare ``grad`` with the centred-difference gradient of ``f`` at ``x`` (relative error)."""
    return check_rel_error(name, grad, centred_difference_grad(f, x, eps), bound)


# --- model checks -------------------------------------------------------------------------------


def count_params(model: Any) -> int:
    """Number of trainable scalars in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def check_param_count(name: str, model: Any, expected: int) -> bool:
    """Pass when ``model`` has exactly ``expected`` trainable parameters."""
    return check_equal(name, count_params(model), expected)


def check_grads_reach_params(name: str, model: Any, loss: Any) -> bool:
    """Backpropagate ``loss`` and pass when every trainable parameter got a non-zero gradient."""
    model.zero_grad(set_to_none=True)
    loss.backward()
    missing = [
        n
        for n, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or not bool(p.grad.abs().sum() > 0))
    ]
    total = sum(1 for p in model.parameters() if p.requires_grad)
    detail = f"{total - len(missing)} of {total} parameter tensors received a non-zero gradient"
    if missing:
        detail += f"; none reached {', '.join(missing[:5])}"
    return report(name, not missing, detail)


def check_step_lowers_loss(
    name: str, model: Any, loss_fn: Callable, X: Any, y: Any, optimizer: Any
) -> bool:
    """Take one optimiser step on the fixed batch ``(X, y)``; pass when the loss went down."""
    import torch

    model.train()
    optimizer.zero_grad()
    before = loss_fn(model(X), y)
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = loss_fn(model(X), y)
    return check_less(name, after.item(), before.detach().item(), what="loss after one step")


def check_nonlinear(name: str, model: Any, x1: Any, x2: Any, *, min_gap: float = 1e-3) -> bool:
    """Pass when ``model`` is not affine: f((x1+x2)/2) differs from (f(x1)+f(x2))/2.

    An affine map (a linear layer, or a stack of them without activations)
    satisfies that midpoint identity exactly, whatever its weights.
    """
    import torch

    model.eval()
    with torch.no_grad():
        mid = model((x1 + x2) / 2)
        avg = (model(x1) + model(x2)) / 2
    gap = float((mid - avg).abs().max())
    ok = gap > min_gap
    return report(
        name,
        ok,
        f"max |f(midpoint) - midpoint of f| = {_fmt(gap)} {'>' if ok else '<='} {_fmt(min_gap)} "
        "(0 for an affine model)",
    )
