"""The page and its API (``catunet serve``).

    segmenter     one queue that batches the photos waiting for the model
    uploads       what an upload may be, and its decoding
    web/          the FastAPI app and the static page
"""
