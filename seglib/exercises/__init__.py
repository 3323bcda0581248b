"""Check functions for the lessons' exercises, one module per lesson (``lesson00`` .. ``lesson08``).

A check runs the learner's function on cases with known answers and says precisely what is
wrong; an exercise left undone is reported as "not attempted yet". Each lesson module has a
``solution_<name>`` next to its check. The machinery is in ``exercises.core``.
"""
