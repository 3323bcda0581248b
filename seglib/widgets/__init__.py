"""Interactive ipywidgets panels used in the lessons.

- ``FeatureMapExplorer``    look at any layer's feature maps next to the input and prediction
- ``TransposedConvStepper`` step through a transposed convolution one input pixel at a time
"""
from seglib.widgets.feature_maps import (FeatureMapExplorer, activations, channel_grid, channel_image,
                                         forward_with_activations, layer_choices)
from seglib.widgets.transposed_conv import TransposedConvStepper

__all__ = [
    "FeatureMapExplorer",
    "TransposedConvStepper",
    "activations",
    "channel_grid",
    "channel_image",
    "forward_with_activations",
    "layer_choices",
]
