"""Interactive ipywidgets panels used in the lessons.

- ``FeatureMapExplorer``   look at any layer's feature maps next to the input and prediction
- ``TransposedConvStepper`` step through a transposed convolution one input pixel at a time

``TransposedConvStepper`` is imported on first use, so this package stays importable
while (or if) its module is missing.
"""
from __future__ import annotations

from typing import Any

from seglib.widgets.feature_maps import (
    FeatureMapExplorer,
    activations,
    channel_grid,
    channel_image,
    forward_with_activations,
    layer_choices,
)

__all__ = [
    "FeatureMapExplorer",
    "TransposedConvStepper",
    "activations",
    "channel_grid",
    "channel_image",
    "forward_with_activations",
    "layer_choices",
]


def __getattr__(name: str) -> Any:
    """Import ``TransposedConvStepper`` lazily (PEP 562 module ``__getattr__``)."""
    if name == "TransposedConvStepper":
        from seglib.widgets.transposed_conv import TransposedConvStepper

        return TransposedConvStepper
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
