"""What every exercise check shares: run cases, explain the first answer that differs, and name
a known mistake only when the answer reproduces it on every case."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Case:
    """One known answer: ``fn(*args)`` should equal ``expected``."""

    description: str
    args: tuple = ()
    expected: Any = None


def cases(solution: Callable, settings: list[tuple]) -> list[Case]:
    """One ``Case`` per ``(description, *args)``, its answer given by ``solution(*args)``."""
    return [Case(why, tuple(args), solution(*args)) for why, *args in settings]


@dataclass
class CheckResult:
    """Outcome of a check: ``passed`` plus the message shown to the learner (its repr)."""

    name: str
    passed: bool
    attempted: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message


def not_attempted(name: str, what: str = "fill in the function") -> CheckResult:
    return CheckResult(name, False, False, f"⏳ {name}: not attempted yet — {what} and re-run this cell.")


def box_masks(size: tuple[int, int], *boxes: tuple[int, int, int, int]) -> torch.Tensor:
    """Bool masks ``[K, *size]``, one per ``(top, left, bottom, right)`` box (exclusive ends)."""
    masks = torch.zeros(len(boxes), *size, dtype=torch.bool)
    for mask, (top, left, bottom, right) in zip(masks, boxes, strict=True):
        mask[top:bottom, left:right] = True
    return masks


def shape_problem(got: Any, expected: torch.Tensor, what: str = "") -> str | None:
    """Say so if ``got`` is not a tensor of ``expected``'s shape (``what`` explains the shape)."""
    if not isinstance(got, torch.Tensor):
        return f"expected a torch.Tensor, got {type(got).__name__}"
    if got.shape != expected.shape:
        return f"expected shape {tuple(expected.shape)}{what}, got {tuple(got.shape)}"
    return None


def compare(got: Any, expected: Any, rtol: float = 1e-5) -> str | None:
    """``None`` if ``got`` matches ``expected``, else how it differs: tensors by shape, then the relative
    error max|got - expected| / max|expected|; floats by relative error; anything else by equality."""
    if isinstance(expected, torch.Tensor):
        if (problem := shape_problem(got, expected)) is not None or expected.numel() == 0:
            return problem
        diff = (got.double() - expected.double()).abs()
        if not diff.isfinite().all():
            return "the result contains NaN or infinity"
        err = (diff.max() / expected.double().abs().max().clamp_min(1e-8)).item()
        if err <= rtol:
            return None
        idx = tuple(int(i) for i in torch.unravel_index(diff.argmax(), expected.shape))
        return (f"values differ: relative error {err:.2e} (tolerance {rtol:.0e}); worst at index "
                f"{idx}: expected {expected[idx].item():.6g}, got {got[idx].item():.6g}")
    if isinstance(expected, float):
        try:
            value = float(got)
        except (TypeError, ValueError):
            return f"expected a number, got {type(got).__name__}"
        return None if abs(value - expected) <= rtol * max(abs(expected), 1.0) else \
            f"expected {expected:.6g}, got {value:.6g}"
    return None if got == expected else f"expected {expected!r}, got {got!r}"


def tensor_answer(got: Any) -> Any:
    """A list or tuple answer (of numbers, bools or 0-d tensors) as the tensor it spells, so that a check
    compares it, and matches it to known mistakes, exactly like that tensor; anything else unchanged."""
    if not isinstance(got, (list, tuple)):
        return got
    try:
        return torch.as_tensor(got)
    except (TypeError, ValueError, RuntimeError):
        try:
            return torch.stack([torch.as_tensor(g) for g in got])
        except (TypeError, ValueError, RuntimeError):
            return got


def _same_answer(a: Any, b: Any) -> bool:
    """Equal shapes and values up to float rounding (NaN matching NaN); integer dtypes must agree. Beside
    a tensor, a list or tuple counts as the tensor it spells (a list answer gets a tensor's hints)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        a, b = tensor_answer(a), tensor_answer(b)
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape
                and a.is_floating_point() == b.is_floating_point()
                and (a.is_floating_point() or a.dtype == b.dtype)
                and torch.allclose(a.double(), b.double(), rtol=1e-6, atol=1e-9, equal_nan=True))
    try:
        if isinstance(a, float) or isinstance(b, float):
            a, b = float(a), float(b)
            return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
        return bool(a == b)
    except Exception:  # not a number, or containers of tensors
        return False


def _behaves_like(fn: Callable, wrong: Callable, cases: list[Case]) -> bool:
    """True if ``fn`` gives exactly ``wrong``'s answer on *every* case (a case where either
    raises is no agreement): a different slip can agree with a known one on a few inputs."""
    try:
        return bool(cases) and all(_same_answer(fn(*c.args), wrong(*c.args)) for c in cases)
    except Exception:
        return False


def run_checks(name: str, fn: Callable, cases: list[Case], rtol: float = 1e-5,
               comparer: Callable[[Any, Any], str | None] | None = None,
               mistakes: dict[str, Callable] | None = None) -> CheckResult:
    """Run ``fn`` on every case; report the first failure (a ``NotImplementedError`` stub is "not
    attempted yet"), with the hint of a ``mistakes`` entry that ``fn`` equals on every case."""
    comparer = comparer or (lambda got, expected: compare(got, expected, rtol))
    for i, case in enumerate(cases, 1):
        try:
            problem = comparer(fn(*case.args), case.expected)
        except NotImplementedError:
            return not_attempted(name)
        except Exception as exc:  # the learner's code crashed: say where
            return CheckResult(name, False, True,
                               f"✗ {name}: case {i} ({case.description}) raised {type(exc).__name__}: {exc}")
        if problem is not None:
            hint = next((f"\n  Hint: {hint}." for hint, wrong in (mistakes or {}).items()
                         if _behaves_like(fn, wrong, cases)), "")
            return CheckResult(name, False, True, f"✗ {name}: case {i} ({case.description}): {problem}{hint}")
    return CheckResult(name, True, True, f"✓ {name}: all {len(cases)} cases pass.")
