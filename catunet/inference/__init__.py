"""From a saved model and a photo to a mask and its outline.

    predict       the one path: Settings, test-time augmentation, zoom,
                  probabilities back at the photo's size
    postprocess   holes filled, small regions dropped
    runtimes      Keras, OpenVINO or ONNX Runtime behind one call
    export        SavedModel, ONNX, OpenVINO and LiteRT files
    contours      outlines of a mask as polygons
    evaluate      a model scored on the test set or any labelled folder
"""
