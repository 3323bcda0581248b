"""seglib: what the lessons of the semantic-segmentation course build, tidied into a small library.

Import from the modules (``from seglib.<module> import name``):

- ``core``        the ignore label 255, ``DatasetError``, ``check_labels``, devices, profile, folders
- ``synthetic``   offline shape datasets that train in seconds on a CPU
- ``datasets``    PASCAL VOC 2012 and Cityscapes readers that name the bad file
- ``download``    VOC 2012 download with mirrors; how to get Cityscapes
- ``fixtures``    tiny VOC/Cityscapes trees in the real on-disk formats (tests, CI)
- ``transforms``  joint image + mask augmentation
- ``metrics``     confusion matrix, the FCN paper's four metrics, boundary band
- ``coco``        COCO-style mask AP/AR
- ``train``       ``fit``, ``evaluate``, ``predict``, atomic checkpoints
- ``viz``         colour label maps, overlays, grids, confusion plots
- ``env``         is this machine ready for the course?
- ``models``      upsampling layers, VGG16, FCN
- ``widgets``     interactive panels used in the lessons
- ``exercises``   checks and solutions for the exercises
"""

__version__ = "0.1.0"
