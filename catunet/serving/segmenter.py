"""A model loaded once that segments photos for many callers at a time.

``Segmenter`` owns one model and one worker thread. Callers (web requests,
each on its own thread) put photos on a queue and wait; the worker takes
whatever is waiting -- up to ``max_batch`` photos -- and predicts them in
one batch through ``catunet.inference.predict.predict_photo_masks``, the path
``visualize.py`` uses, so a photo gets the same mask here as there.

Each photo's result is a ``Segmentation``: the mask at the photo's own
size, its outlines as polygons in the photo's pixel coordinates, and the
mask as a PNG.
"""

import dataclasses
import queue
import threading
from concurrent.futures import Future
from pathlib import Path

import cv2
import numpy as np

from catunet.inference import contours
from catunet.inference.predict import Settings, predict_photo_masks
from catunet.inference.runtimes import load_runtime
from catunet.training.config import TrainConfig

MAX_BATCH = 8


@dataclasses.dataclass
class Segmentation:
    """A photo's predicted mask (``uint8``, 1 = foreground, photo's size)."""

    mask: np.ndarray

    @property
    def area(self):
        """Fraction of the photo that is foreground."""
        return float(self.mask.mean())

    def polygons(self):
        """Outer outlines of each region: lists of ``[x, y]`` pixel points,
        three or more (a region one or two pixels across has no polygon;
        it stays in the mask)."""
        return [c.reshape(-1, 2).tolist()
                for c in contours.find_contours(self.mask) if len(c) >= 3]

    def png(self):
        """The mask as a PNG: 255 foreground, 0 background."""
        ok, encoded = cv2.imencode(".png", self.mask * 255)
        return encoded.tobytes()


class Segmenter:
    """One model, one worker thread, a queue of photos.

    Args:
        model_path: The ``.keras`` file.
        runtime: ``catunet.inference.runtimes`` name (``auto``: the fastest installed).
        settings: ``inference.Settings``; default those saved beside the
            model.
        max_batch: Most photos predicted in one forward pass.
    """

    def __init__(self, model_path, runtime="auto", settings=None,
                 max_batch=MAX_BATCH):
        self.model_path = Path(model_path)
        self.model, self.runtime = load_runtime(model_path, runtime)
        self.settings = settings or Settings.beside(model_path)
        config = self.model_path.parent / "config.json"
        self.config = TrainConfig.load(config) if config.is_file() else None
        self.max_batch = max_batch
        self._queue = queue.Queue()
        self._worker = threading.Thread(target=self._serve, daemon=True,
                                        name="catunet-segmenter")
        self._worker.start()

    def describe(self):
        """What is serving: model, encoder, width, input size, runtime,
        the precision it was trained in, inference settings."""
        return {"model": self.model_path.name,
                "encoder": self.config and self.config.encoder,
                "width": self.config and self.config.width,
                "image_size": int(self.model.input_shape[1]),
                "runtime": self.runtime,
                "precision": self.config and self.config.precision,
                "settings": dataclasses.asdict(self.settings)}

    def segment(self, photo, timeout=120):
        """The ``Segmentation`` of one RGB ``uint8`` photo (blocks until the
        worker has predicted it)."""
        future = Future()
        self._queue.put((photo, future))
        return future.result(timeout)

    def close(self):
        """Stops the worker once the photos already queued are done."""
        self._queue.put(None)
        self._worker.join()

    def _take_batch(self):
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # stop after this batch
                break
            batch.append(item)
        return batch

    def _serve(self):
        while (batch := self._take_batch()) is not None:
            photos = [photo for photo, _ in batch]
            try:
                masks = predict_photo_masks(self.model, photos, self.settings)
            except Exception as error:  # every waiting caller hears of it
                for _, future in batch:
                    future.set_exception(error)
                continue
            for (_, future), mask in zip(batch, masks):
                future.set_result(Segmentation(mask))
