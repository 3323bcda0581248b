"""seglib: what the lessons of the semantic-segmentation course build, tidied into a small library.

Import from the modules (``from seglib.<module> import name``); README.md, "The ``seglib`` package",
says what each module holds.
"""

__version__ = "0.1.0"
