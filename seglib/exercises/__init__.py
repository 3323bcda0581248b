"""The lessons' exercise checks, one module per lesson, each with a ``solution_<name>`` next to its
``check_<name>``; the shared machinery is in ``exercises.core``."""
