"""The networks and their parts: ``upsampling`` (transposed convolution, bilinear kernels),
``vgg`` (VGG16 at any width, convolutionalized), ``fcn`` (FCN-32s/16s/8s), ``parsenet``,
``deconvnet``, ``unet``, and ``local`` (the local-only baseline)."""
