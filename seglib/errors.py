"""Errors that tell the learner which file or sample is wrong, and how."""


class DatasetError(ValueError):
    """Bad or missing data: names the file (or sample) and the problem.

    Raised instead of letting bad labels reach the GPU, where an out-of-range class
    index shows up only as a cryptic ``device-side assert triggered``.
    """
