"""Image/mask pairs: finding them on disk, decoding, resizing, batching.

A data folder holds ``images/`` and ``masks/``. A mask belongs to the photo
whose name it shares, either exactly (``horse001.jpg``), with a ``mask_``
prefix (``mask_cat.0.jpg``) or with a ``_mask`` suffix (``cat.0_mask.png``);
extensions may differ. Everything is decoded once with OpenCV, resized to a
square of ``image_size`` pixels and kept in memory as ``uint8``: the sets this
package is for are small, so no epoch ever decodes a JPEG again.
"""

import dataclasses
import warnings
from pathlib import Path

import cv2
import numpy as np

from catunet.data import photos
from catunet.errors import CatunetError

IMAGE_SIZE = 128
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff",
                    ".webp", ".gif")


@dataclasses.dataclass(frozen=True)
class Pair:
    """One photo and its mask, as paths."""

    image: Path
    mask: Path


def _is_visible_file(path):
    return path.is_file() and not path.name.startswith(".")


def _list_images(folder):
    """Files of ``folder`` with an image extension; names any other file."""
    files = sorted(p for p in folder.iterdir() if _is_visible_file(p))
    others = [p.name for p in files
              if p.suffix.lower() not in IMAGE_EXTENSIONS]
    if others:
        raise CatunetError(
            f"{folder}: not image files (expected one of "
            f"{', '.join(IMAGE_EXTENSIONS)}): {', '.join(others)}"
        )
    if not files:
        raise CatunetError(f"{folder}: no images in this folder")
    return files


def _mask_keys(image_stem):
    stem = image_stem.lower()
    return (stem, f"mask_{stem}", f"{stem}_mask")


def find_pairs(data_dir):
    """Pairs every photo in ``data_dir/images`` with its mask.

    Args:
        data_dir: Folder holding ``images/`` and ``masks/``.

    Returns:
        A list of ``Pair`` sorted by image file name.

    Raises:
        CatunetError: A folder is missing or empty, holds a non-image file,
            or a photo has no mask or a mask no photo (all are listed).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise CatunetError(f"{data_dir}: data folder not found")
    for sub in ("images", "masks"):
        if not (data_dir / sub).is_dir():
            raise CatunetError(f"{data_dir / sub}: folder not found (a data "
                               "folder holds images/ and masks/)")
    images = _list_images(data_dir / "images")
    masks = _list_images(data_dir / "masks")
    masks_by_stem = {}
    for mask in masks:
        key = mask.stem.lower()
        if key in masks_by_stem:
            raise CatunetError(
                f"{data_dir / 'masks'}: {masks_by_stem[key].name} and "
                f"{mask.name} are the same mask in two formats"
            )
        masks_by_stem[key] = mask

    pairs, lonely_images = [], []
    for image in images:
        found = [masks_by_stem[k] for k in _mask_keys(image.stem)
                 if k in masks_by_stem]
        if len(found) > 1:
            raise CatunetError(
                f"{image}: more than one mask matches: "
                f"{', '.join(m.name for m in found)}"
            )
        if found:
            pairs.append(Pair(image, found[0]))
        else:
            lonely_images.append(image.name)
    used = {p.mask for p in pairs}
    lonely_masks = [m.name for m in masks if m not in used]

    problems = []
    if lonely_images:
        problems.append(f"photos with no mask in {data_dir / 'masks'}: "
                        + ", ".join(lonely_images))
    if lonely_masks:
        problems.append(f"masks with no photo in {data_dir / 'images'}: "
                        + ", ".join(lonely_masks))
    if problems:
        raise CatunetError(
            "; ".join(problems)
            + " (a mask is named like its photo, optionally with a 'mask_' "
            "prefix or '_mask' suffix)"
        )
    return pairs


def list_photos(folder):
    """Image files of a folder of photos (or of its ``images/``), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CatunetError(f"{folder}: folder of photos not found")
    if (folder / "images").is_dir():
        folder = folder / "images"
    photos = sorted(p for p in folder.iterdir() if _is_visible_file(p)
                    and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not photos:
        raise CatunetError(f"{folder}: no photos in this folder")
    return photos


def photos_of(entries):
    """The photo files that comma-separated ``entries`` name, sorted and
    without repeats: each a folder of photos (``list_photos``), a photo
    file or a glob pattern of photo files (``davis/images/hike_*``).

    Raises:
        CatunetError: An entry that names no photos.
    """
    import glob

    found = set()
    for entry in (e.strip() for e in entries.split(",")):
        if not entry:
            continue
        if Path(entry).is_file():
            found.add(Path(entry))
            continue
        if not glob.has_magic(entry):
            found.update(list_photos(entry))
            continue
        matched = [Path(p) for p in glob.glob(entry)
                   if Path(p).suffix.lower() in IMAGE_EXTENSIONS
                   and _is_visible_file(Path(p))]
        if not matched:
            raise CatunetError(f"{entry}: no photos match this pattern")
        found.update(matched)
    if not found:
        raise CatunetError(f"{entries!r}: names no folder or pattern")
    return sorted(found)


def pairs_of(photos):
    """The ``Pair`` of each photo, found in its data folder (the folder
    holding its ``images/`` folder and the ``masks/`` beside it).

    Raises:
        CatunetError: A photo outside an ``images/`` folder, or whose data
            folder does not pair it (``find_pairs`` names why).
    """
    folders = {}
    found = []
    for photo in map(Path, photos):
        if photo.parent.name != "images":
            raise CatunetError(f"{photo}: its mask is looked for in a masks/ "
                               "folder beside its images/ folder, and this "
                               "photo is not in one")
        root = photo.parent.parent
        if root not in folders:
            folders[root] = {p.image.resolve(): p for p in find_pairs(root)}
        pair = folders[root].get(photo.resolve())
        if pair is None:
            raise CatunetError(f"{photo}: not one of the photos that "
                               f"{root} pairs with a mask")
        found.append(pair)
    return found


def read_image(path):
    """Reads a photo as an RGB ``uint8`` array, turned upright as its EXIF
    orientation says (``catunet.data.photos``: the decoder the web server uses
    too); grayscale, 16-bit, palette and RGBA photos become RGB."""
    return photos.read(path)


def read_mask(path):
    """Reads a mask as a binary ``uint8`` array (1 = foreground), turned as
    its EXIF orientation says, like its photo.

    Masks are often JPEGs whose edges carry compression noise, so they are
    binarised at half their range; colour masks by their brightest channel,
    palette masks as every index but 0, and lossless masks of only 0 and 1
    as they are (``catunet.data.photos``).
    """
    return photos.read(path, mode="mask")


def resize_image(image, size=IMAGE_SIZE):
    """Resizes a photo to ``size`` x ``size`` with area averaging."""
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def resize_mask(mask, size=IMAGE_SIZE):
    """Resizes a binary mask and keeps it binary.

    Area-averaging then thresholding at 0.5 is a majority vote over each
    output pixel's footprint: smoother than nearest-neighbour, still 0/1.

    Args:
        size: A square's side, or ``(height, width)``.
    """
    height, width = (size, size) if np.isscalar(size) else size
    resized = cv2.resize(mask.astype(np.float32), (width, height),
                         interpolation=cv2.INTER_AREA)
    return (resized > 0.5).astype(np.uint8)


def load_pair(pair, size=IMAGE_SIZE, mask_size=None):
    """Decodes and resizes one pair to ``(size, size, 3)`` and
    ``(mask_size, mask_size, 1)`` (``mask_size`` defaults to ``size``)."""
    image = read_image(pair.image)
    mask = read_mask(pair.mask)
    image_ratio = image.shape[1] / image.shape[0]
    mask_ratio = mask.shape[1] / mask.shape[0]
    if abs(image_ratio / mask_ratio - 1) > 0.05:
        warnings.warn(
            f"{pair.mask}: aspect ratio {mask.shape[1]}x{mask.shape[0]} differs "
            f"from its photo's {image.shape[1]}x{image.shape[0]}",
            stacklevel=2,
        )
    mask = resize_mask(mask, mask_size or size)
    if not mask.any():
        warnings.warn(f"{pair.mask}: mask is all background", stacklevel=2)
    return resize_image(image, size), mask[..., None]


def load_pairs(pairs, size=IMAGE_SIZE, mask_size=None):
    """Decodes all pairs into two ``uint8`` arrays ``(N, size, size, 3)``
    and ``(N, mask_size, mask_size, 1)`` (``mask_size``: ``size``)."""
    if not pairs:
        raise CatunetError("no image/mask pairs to load")
    loaded = [load_pair(p, size, mask_size) for p in pairs]
    images = np.stack([image for image, _ in loaded])
    masks = np.stack([mask for _, mask in loaded])
    return images, masks


def steps_per_epoch(count, batch_size):
    """Batches in one pass over ``count`` images (the last may be smaller)."""
    return -(-count // batch_size)


def make_training_dataset(images, masks, batch_size, seed=0, first_epoch=0,
                          epochs=1, augment=None):
    """The training stream: every batch of epochs ``[first_epoch, epochs)``.

    Epoch ``e`` visits the images in an order drawn from ``(seed, e)`` alone,
    and batch ``s`` of it is augmented with the key ``(seed, e * steps + s)``:
    nothing depends on what this process saw before, so a run resumed at
    epoch ``e`` gets exactly the batches an uninterrupted run got there.
    Pass ``steps_per_epoch(len(images), batch_size)`` to ``fit``.

    Args:
        images: ``uint8`` array ``(N, H, W, 3)``.
        masks: ``uint8`` array ``(N, H, W, 1)`` of 0/1.
        batch_size: Images per batch.
        seed: The run's seed.
        first_epoch: The epoch the stream starts at (a resumed run's).
        epochs: The epoch it ends before.
        augment: Optional ``Augmenter`` (called with each batch's key).

    Returns:
        A ``tf.data.Dataset`` of ``(float32 image in [0, 255], float32 mask)``
        batches.
    """
    import tensorflow as tf

    count = len(images)
    steps = steps_per_epoch(count, batch_size)
    images, masks = tf.constant(images), tf.constant(masks)
    seed = tf.constant(seed, tf.int64)

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count), seed=tf.stack([seed, epoch]))
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
        return batches.enumerate().map(lambda step, rows: (epoch, step, rows))

    def load(epoch, step, rows):
        x = tf.cast(tf.gather(images, rows), tf.float32)
        y = tf.cast(tf.gather(masks, rows), tf.float32)
        if augment is not None:
            x, y = augment(x, y, key=tf.stack([seed, epoch * steps + step]))
        return x, y

    dataset = tf.data.Dataset.range(first_epoch, epochs).flat_map(epoch_batches)
    # Draws come from each batch's key, not from a shared stream, so batches
    # may be made in parallel and stay the same; deterministic keeps order.
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def make_dataset(images, masks, batch_size):
    """Batches of decoded arrays in their order, unaugmented (validation).

    Returns:
        A ``tf.data.Dataset`` of ``(float32 image in [0, 255], float32 mask)``
        batches.
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((images, masks))
    dataset = dataset.batch(batch_size).map(
        lambda x, y: (tf.cast(x, tf.float32), tf.cast(y, tf.float32)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return dataset.prefetch(tf.data.AUTOTUNE)
