"""catunet: U-Net segmentation of cats (and any foreground) from small sets.

Modules, one job each:
    data         find image/mask pairs, decode and resize them, tf.data pipeline
    split        the saved train/test split and validation folds
    augment      augmentation layers (incl. elastic deformation), on batches
    model        the U-Net
    losses       training losses, by name
    metrics      Dice, IoU and pixel accuracy
    config       the frozen configuration of a training run
    train        one training run, resumable, into a run folder
    transfer     copying weights between models by layer name (--init)
    evaluate     scores a saved model on the test set or any labelled folder
    experiments  variants x seeds on one split (the reports' numbers)
    reports      the reports' Markdown and plots; figures: image grids
    atomic       writes that never leave half a file
    datasets     the cat set (folder or download), VOC 2012 through TFDS
"""

__version__ = "0.2.0"
