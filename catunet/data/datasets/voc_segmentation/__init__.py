"""Pascal VOC 2012 segmentation as a TensorFlow Datasets builder."""

from catunet.data.datasets.voc_segmentation.voc_segmentation_dataset_builder import (  # noqa: F401
                                                                                     Builder,
                                                                                     )
