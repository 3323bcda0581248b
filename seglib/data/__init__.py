"""Datasets, joint augmentation and input checks.

- ``synthetic``   offline shape datasets that run in seconds on a CPU (``ShapesDataset``, ``VARIANTS``)
- ``voc``         PASCAL VOC 2012 (palette-PNG masks, 255 = ignore)
- ``cityscapes``  Cityscapes fine annotations, label ids mapped to the 19 train ids
- ``transforms``  image + mask augmentation with ``torchvision.transforms.v2``
- ``validate``    checks that name the bad file and say what is wrong with it
- ``download``    VOC 2012 download with mirrors; how to get Cityscapes
- ``fixtures``    tiny trees in the real on-disk formats, for tests and CI
"""
from seglib.data.cityscapes import (CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, LABEL_ID_TO_TRAIN_ID,
                                    CityscapesSegmentation, label_ids_to_train_ids)
from seglib.data.download import (VOC2012_MD5, VOC2012_MIRRORS, cityscapes_instructions,
                                  download_voc2012, voc2012_instructions)
from seglib.data.fixtures import make_cityscapes_tree, make_voc_tree
from seglib.data.synthetic import VARIANTS, ShapesConfig, ShapesDataset, make_batch, make_sample
from seglib.data.transforms import PAD_FILL, eval_transforms, train_transforms
from seglib.data.validate import check_dataset_folder, check_mask, check_pair
from seglib.data.voc import VOC_CLASSES, VOCSegmentation

__all__ = [
    "VARIANTS", "ShapesConfig", "ShapesDataset", "make_batch", "make_sample",
    "CITYSCAPES_CLASSES", "CITYSCAPES_PALETTE", "LABEL_ID_TO_TRAIN_ID", "CityscapesSegmentation",
    "label_ids_to_train_ids",
    "VOC2012_MD5", "VOC2012_MIRRORS", "cityscapes_instructions", "download_voc2012", "voc2012_instructions",
    "make_cityscapes_tree", "make_voc_tree",
    "PAD_FILL", "eval_transforms", "train_transforms",
    "check_dataset_folder", "check_mask", "check_pair",
    "VOC_CLASSES", "VOCSegmentation",
]
