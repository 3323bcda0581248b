"""seglib: what the lessons of the semantic-segmentation course build, tidied into a small library.

Import from the modules (``from seglib.<module> import name``):

- ``core``        the ignore label 255, ``DatasetError``, ``check_labels``, devices, profile, folders
- ``synthetic``   offline datasets, each designed to need one lesson's idea
- ``datasets``    PASCAL VOC 2012 and Cityscapes readers that name the bad file
- ``download``    VOC 2012 download with mirrors; how to get Cityscapes
- ``fixtures``    tiny VOC/Cityscapes trees in the real on-disk formats (tests, CI)
- ``transforms``  joint image + mask augmentation, elastic deformation, U-Net's training tiles
- ``metrics``     confusion matrix, the FCN paper's four metrics, boundary band, what/where scores
- ``coco``        COCO-style mask AP/AR
- ``train``       ``fit``, ``evaluate``, ``predict``, atomic checkpoints
- ``viz``         colour label maps, grids, training curves, confusion plots
- ``env``         is this machine ready for the course?
- ``models``      upsampling layers, VGG16 (and the shipped shape classifier), FCN, ParseNet, DeconvNet,
                  U-Net, the local-only baseline
- ``compare``     every network on every lesson's data at one budget (lesson 08)
- ``cost``        multiply-adds, activation memory, inference time (lesson 08)
- ``reproduce``   ``python -m seglib.reproduce LESSON``: a lesson's full profile on a GPU
- ``widgets``     interactive panels used in the lessons
- ``exercises``   checks and solutions for the exercises
"""

__version__ = "0.1.0"
