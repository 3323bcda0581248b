"""Constants shared by every module."""

IGNORE_INDEX: int = 255
"""Label value that marks pixels to leave out of the loss and the metrics.

PASCAL VOC draws a 255-valued border around every object (the annotators were unsure
there) and Cityscapes maps its unlabelled ids to it. It is never a class.
"""
