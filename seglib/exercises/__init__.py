"""Check functions for the lessons' exercises, one module per lesson.

A check runs the learner's function on cases whose answers are known and says
precisely what is wrong (which case, which shape, which value, how far off). It never
stops the notebook when an exercise is left undone: the learner's stub raises
``NotImplementedError`` and the check reports "not attempted yet".

Solutions: each lesson module has a ``solution_<name>`` function next to its check
(``??solution_bilinear_kernel`` in a notebook shows the code).
"""
from seglib.exercises.core import Case, CheckResult, run_checks

__all__ = ["Case", "CheckResult", "run_checks"]
