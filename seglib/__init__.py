"""seglib: the small helper library behind the semantic-segmentation course.

One concept per module, so a learner can open any file and follow it:

- ``seglib.data``      datasets (offline synthetic sets, VOC, Cityscapes), joint augmentation, input checks
- ``seglib.metrics``   confusion matrix, the FCN paper's four metrics, COCO-style mask AP/AR
- ``seglib.train``     the ``fit`` loop, poly learning rate, atomic checkpoints that resume
- ``seglib.viz``       palettes, image/ground-truth/prediction grids, overlays, plots
- ``seglib.models``    upsampling layers and the networks (FCN, ...)
- ``seglib.widgets``   interactive ipywidgets used in the lessons
- ``seglib.exercises`` check functions for the exercises, and their solutions
"""
from seglib.constants import IGNORE_INDEX
from seglib.device import pick_device
from seglib.errors import DatasetError
from seglib.profile import Profile, get_profile

__version__ = "0.1.0"
__all__ = ["IGNORE_INDEX", "DatasetError", "Profile", "get_profile", "pick_device", "__version__"]
