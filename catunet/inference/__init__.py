"""From a saved model and a photo to a mask and its outline.

    predict       the one path: Settings, test-time augmentation, zoom,
                  probabilities back at the photo's size
    postprocess   holes filled, small regions dropped
    runtimes      Keras, OpenVINO or ONNX Runtime behind one call
    export        SavedModel, ONNX, OpenVINO and LiteRT files
    detector      the COCO detector's cat boxes (--cat-boxes, --cat-gate)
    tfjs_graph    the detector's graph read without TensorFlow.js
    contours      outlines of a mask as polygons
    evaluate      a model scored on the test set or any labelled folder
"""
