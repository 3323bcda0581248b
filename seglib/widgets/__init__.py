"""Interactive ipywidgets panels used in the lessons: ``feature_maps``, ``transposed_conv`` and
``unpooling`` (DeconvNet's switches)."""
