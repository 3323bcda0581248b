"""The "poly" learning-rate schedule used by FCN's successors (ParseNet, DeepLab, PSPNet).

The rate falls smoothly from ``lr`` to 0 over training::

    lr_t = lr * (1 - t / total_steps) ** power        (power = 0.9, t = iteration)

It is applied per iteration, not per epoch, as in the papers, so a short run (a few
epochs in the quick profile) still sees the whole curve.
"""
from __future__ import annotations

from typing import Callable


def poly_lr_lambda(total_steps: int, power: float = 0.9) -> Callable[[int], float]:
    """The factor ``(1 - step / total_steps) ** power`` as a function for ``LambdaLR``.

    >>> f = poly_lr_lambda(total_steps=10, power=1.0)
    >>> [f(0), f(5), f(10), f(12)]
    [1.0, 0.5, 0.0, 0.0]

    Use it as ``torch.optim.lr_scheduler.LambdaLR(optimizer, poly_lr_lambda(n, 0.9))`` and
    call ``scheduler.step()`` after every ``optimizer.step()``.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if power < 0:
        raise ValueError(f"power must be >= 0, got {power}")

    def factor(step: int) -> float:
        return max(0.0, 1.0 - step / total_steps) ** power

    return factor
