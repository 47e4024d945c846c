"""Photos and masks in.

    photos        decoding any photo as a viewer shows it, masks of any kind
    loading       image/mask pairs on disk, decoded and resized; tf.data
    split         the train/test split made once, validation folds
    duplicates    the guard against training photos that look like test ones
    augment       augmentation layers on batches (augment_spec: the --augment
                  grammar, Keras-free)
    mosaic        several photos in one training image
    copypaste     cats pasted onto other photos
    scenes        synthetic scenes of several, small and large cats
    datasets/     where the cat set comes from; Pascal VOC through TFDS
"""
