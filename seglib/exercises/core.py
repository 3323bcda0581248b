"""The machinery every exercise check shares: run cases, compare, explain.

A case holds the arguments, the expected answer and a short description; the first case
whose answer differs (``compare``: type, shape, then relative error) is explained, and a
known mistake is named only when the answer reproduces it on every case.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch


@dataclass
class Case:
    """One known answer: ``fn(*args, **kwargs)`` should equal ``expected``."""

    description: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    expected: Any = None


@dataclass
class CheckResult:
    """Outcome of a check: ``passed`` plus the message shown to the learner."""

    name: str
    passed: bool
    attempted: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:  # what the notebook shows
        return self.message


def relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    """max|got - expected| / max(|expected|, 1e-8): the assignment-course yardstick."""
    got, expected = got.double(), expected.double()
    return ((got - expected).abs().max() / expected.abs().max().clamp_min(1e-8)).item()


def box_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> torch.Tensor:
    """A bool mask of ``size`` that is True inside ``box = (top, left, bottom, right)`` (exclusive ends)."""
    mask = torch.zeros(size, dtype=torch.bool)
    top, left, bottom, right = box
    mask[top:bottom, left:right] = True
    return mask


def shape_problem(got: Any, expected: torch.Tensor, what: str = "") -> str | None:
    """Say so if ``got`` is not a tensor of ``expected``'s shape (``what`` explains the shape)."""
    if not isinstance(got, torch.Tensor):
        return f"expected a torch.Tensor, got {type(got).__name__}"
    if tuple(got.shape) != tuple(expected.shape):
        return f"expected shape {tuple(expected.shape)}{what}, got {tuple(got.shape)}"
    return None


def compare(got: Any, expected: Any, rtol: float = 1e-5) -> str | None:
    """Return ``None`` if ``got`` matches ``expected``, else a sentence saying how it differs."""
    if isinstance(expected, torch.Tensor):
        if (problem := shape_problem(got, expected)) is not None:
            return problem
        if expected.numel() == 0:
            return None
        if not torch.isfinite(got.double()).all():
            return "the result contains NaN or infinity"
        err = relative_error(got, expected)
        if err > rtol:
            worst = (got.double() - expected.double()).abs().argmax().item()
            idx = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), expected.shape))
            return (f"values differ: relative error {err:.2e} (tolerance {rtol:.0e}); "
                    f"worst at index {idx}: expected {expected[idx].item():.6g}, got {got[idx].item():.6g}")
        return None
    if isinstance(expected, float):
        try:
            value = float(got)
        except (TypeError, ValueError):
            return f"expected a number, got {type(got).__name__}"
        if abs(value - expected) > rtol * max(abs(expected), 1.0):
            return f"expected {expected:.6g}, got {value:.6g}"
        return None
    if got != expected:
        return f"expected {expected!r}, got {got!r}"
    return None


def run_checks(name: str, fn: Callable, cases: list[Case], rtol: float = 1e-5,
               comparer: Callable[[Any, Any], str | None] | None = None,
               mistakes: dict[str, Callable] | None = None) -> CheckResult:
    """Run ``fn`` on every case; report the first failure, or success.

    A stub raising ``NotImplementedError`` is "not attempted yet" (the notebook runs on);
    another exception is reported with its case. ``mistakes`` maps a hint to a typical
    wrong implementation; a failing answer equal to it on every case gets the hint.
    """
    result = _first_failure(name, fn, cases, comparer or (lambda got, exp: compare(got, exp, rtol)))
    if mistakes and result.attempted and not result.passed:
        for hint, wrong in mistakes.items():
            if behaves_like(fn, wrong, cases):
                return CheckResult(name, False, True, f"{result.message}\n  Hint: {hint}.")
    return result


def same_answer(a: Any, b: Any) -> bool:
    """Equal shapes and values, up to float rounding (NaN matching NaN)."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.is_floating_point() != b.is_floating_point():
            return False
        if not a.is_floating_point():
            return a.dtype == b.dtype and torch.equal(a, b)
        return torch.allclose(a.double(), b.double(), rtol=1e-6, atol=1e-9, equal_nan=True)
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return False
    if isinstance(a, float) or isinstance(b, float):
        try:
            a, b = float(a), float(b)
        except (TypeError, ValueError):
            return False
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    try:
        return bool(a == b)
    except Exception:  # e.g. comparing containers of tensors
        return False


def behaves_like(fn: Callable, wrong: Callable, cases: list[Case]) -> bool:
    """True if ``fn`` gives exactly ``wrong``'s answer on *every* case (a case where either
    raises is no agreement): a different slip can agree with a known one on a few inputs."""
    if not cases:
        return False
    for c in cases:
        try:
            got = fn(*c.args, **c.kwargs)
            mistaken = wrong(*c.args, **c.kwargs)
        except Exception:
            return False
        if not same_answer(got, mistaken):
            return False
    return True


def _first_failure(name: str, fn: Callable, cases: list[Case],
                   comparer: Callable[[Any, Any], str | None]) -> CheckResult:
    """Run the cases in order and describe the first one that fails."""
    for i, case in enumerate(cases, 1):
        try:
            got = fn(*case.args, **case.kwargs)
        except NotImplementedError:
            return CheckResult(name, False, False,
                               f"⏳ {name}: not attempted yet — fill in the function and re-run this cell.")
        except Exception as exc:  # the learner's code crashed: say where
            return CheckResult(name, False, True,
                               f"✗ {name}: case {i} ({case.description}) raised {type(exc).__name__}: {exc}")
        problem = comparer(got, case.expected)
        if problem is not None:
            return CheckResult(name, False, True, f"✗ {name}: case {i} ({case.description}): {problem}")
    return CheckResult(name, True, True, f"✓ {name}: all {len(cases)} cases pass.")
