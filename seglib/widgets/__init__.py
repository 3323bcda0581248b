"""Interactive ipywidgets panels used in the lessons: ``feature_maps.FeatureMapExplorer`` (any
layer's feature maps) and ``transposed_conv.TransposedConvStepper`` (a transposed convolution,
one input pixel at a time)."""
