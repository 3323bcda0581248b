"""The networks and their building blocks.

- ``upsampling``: bilinear kernels and the bilinear-initialised ``ConvTranspose2d``
- ``vgg``: VGG16 at any width, and turning its classifier into convolutions
- ``fcn``: FCN-32s, FCN-16s, FCN-8s
"""
from seglib.models.fcn import FCN, count_parameters, fcn8s, fcn16s, fcn32s
from seglib.models.upsampling import bilinear_kernel, bilinear_upsampler
from seglib.models.vgg import VGGBackbone, convolutionalize, convolutionalize_linear, scaled_cfg, vgg16

__all__ = [
    "FCN", "VGGBackbone", "bilinear_kernel", "bilinear_upsampler", "convolutionalize",
    "convolutionalize_linear", "count_parameters", "fcn8s", "fcn16s", "fcn32s", "scaled_cfg", "vgg16",
]
