"""catunet: U-Net segmentation of cats (and any foreground) from small sets.

Modules, one job each:
    data      find image/mask pairs, decode and resize them, tf.data pipeline
    split     the saved train/test split and validation folds
    model     the U-Net
    losses    training losses, by name
    metrics   Dice, IoU and pixel accuracy
    config    the frozen configuration of a training run
    train     one training run, resumable, into a run folder
    evaluate  scores a saved model on the test set or any labelled folder
    experiments  the loss comparison report
    datasets  where the cat set comes from (local folder or download)
"""

__version__ = "0.1.0"
