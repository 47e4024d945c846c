"""The builder on dummy_data/, VOC 2012's exact layout and formats."""

import tensorflow_datasets as tfds

from catunet.data.datasets.voc_segmentation import voc_segmentation_dataset_builder


class VocSegmentationTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = voc_segmentation_dataset_builder.Builder
    SPLITS = {"train": 3, "validation": 2}
    SKIP_CHECKSUMS = True  # the manual folder is read; nothing is downloaded


if __name__ == "__main__":
    tfds.testing.test_main()
