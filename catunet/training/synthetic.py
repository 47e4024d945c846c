"""Synthetic training photos added to a run's fitted ones: copy-paste
composites (``--copy-paste``), mosaics (``--mosaic``), photos without a cat
(``--negatives``) and their foregrounds pasted as backgrounds
(``--negative-pastes``). Each is drawn by the run's seed and never uses a
look-alike of a held-out photo."""

from catunet.data import duplicates, loading


def with_copy_paste(config, fitted, protected):
    """The fitted arrays plus ``copy_paste`` composites per photo
    (``catunet.data.copypaste``), on backgrounds that are not look-alikes of the
    ``protected`` photos."""
    import numpy as np

    from catunet.data import copypaste

    images, masks = fitted
    count = int(round(config.copy_paste * len(images)))
    backgrounds = images[:0]
    if config.paste_backgrounds:
        photos = [p for folder in config.paste_backgrounds.split(",")
                  for p in loading.list_photos(folder.strip())]
        chosen, _ = drawn_photos(photos, count, config.seed, protected)
        backgrounds = np.stack([
            loading.resize_image(loading.read_image(p), config.image_size)
            for p in chosen])
    made = copypaste.synthesize(images, masks, backgrounds, count, config.seed)
    print(f"Copy-paste: {len(made[0])} composites on "
          + (f"{len(backgrounds)} background photos"
             if len(backgrounds) else "the other training photos"))
    return np.concatenate([images, made[0]]), np.concatenate([masks, made[1]])


def drawn_photos(paths, count, seed, protected):
    """``count`` of ``paths`` (all, if fewer) drawn by ``seed``, in their
    order, less those that look like one of the ``protected`` photos
    (``catunet.data.duplicates``); returns ``(kept, how many were left out)``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    chosen = [paths[i] for i in sorted(
        rng.choice(len(paths), min(count, len(paths)), replace=False))]
    near = {d.path for d in duplicates.find_duplicates(
        duplicates.hash_files(chosen), duplicates.hash_files(protected))}
    return [p for p in chosen if str(p) not in near], len(near)


def with_mosaics(config, fitted, photos):
    """The fitted arrays plus ``mosaic`` mosaics per photo of the fitted
    ``photos`` (``catunet.data.mosaic``; never of copy-paste composites)."""
    import numpy as np

    from catunet.data import mosaic
    from catunet.data.mosaic_spec import parse_grids

    count = int(round(config.mosaic * len(photos[0])))
    grids = parse_grids(config.mosaic_grids)
    made = mosaic.mosaics(*photos, count, config.seed, grids)
    grids = mosaic.usable_grids(grids, len(photos[0]))
    shapes = " and ".join(f"{g}x{g}" for g in grids)
    print(f"Mosaic: {len(made[0])} mosaics of "
          + ("four fitted photos each" if grids == (2,) else
             f"fitted photos, {shapes} in turn"))
    return np.concatenate([fitted[0], made[0]]), \
        np.concatenate([fitted[1], made[1]])


def with_negatives(config, fitted, photos, protected):
    """The fitted arrays plus ``negatives`` photos per photo of the fitted
    ``photos`` from ``negative_photos``, each with an empty mask: drawn by
    the run's seed, never look-alikes of the ``protected`` photos."""
    import numpy as np

    paths = loading.photos_of(config.negative_photos)
    count = int(round(config.negatives * len(photos[0])))
    chosen, near = drawn_photos(paths, count, config.seed, protected)
    size = config.image_size
    images = np.stack([loading.resize_image(loading.read_image(p), size)
                       for p in chosen]) if chosen else fitted[0][:0]
    masks = np.zeros((len(images), *fitted[1].shape[1:]), fitted[1].dtype)
    print(f"Negatives: {len(images)} photos without a cat, of {len(paths)}"
          + (f" ({near} left out as look-alikes of held-out photos)"
             if near else ""))
    return np.concatenate([fitted[0], images]), \
        np.concatenate([fitted[1], masks])


def with_negative_pastes(config, fitted, photos, protected):
    """The fitted arrays plus ``negative_pastes`` composites per photo of
    the fitted ``photos``: each a fitted cat photo with the foreground of
    one ``negative_photos`` photo pasted onto it as background
    (``catunet.data.copypaste.paste_negatives``); the photos are drawn by the
    run's seed, never look-alikes of the ``protected`` photos, and cut
    out at their own size."""
    import numpy as np

    from catunet.data import copypaste

    paths = loading.photos_of(config.negative_photos)
    count = int(round(config.negative_pastes * len(photos[0])))
    chosen, near = drawn_photos(paths, count, config.seed, protected)
    pairs = loading.pairs_of(chosen)
    negatives = copypaste.cutouts([loading.read_image(p.image) for p in pairs],
                                  [loading.read_mask(p.mask) for p in pairs])
    made = copypaste.paste_negatives(*photos, negatives, count, config.seed)
    print(f"Negative pastes: {len(made[0])} cat photos, each with the "
          f"foreground of one of {len(negatives)} photos without a cat "
          "pasted as background"
          + (f" ({near} left out as look-alikes of held-out photos)"
             if near else ""))
    return np.concatenate([fitted[0], made[0]]), \
        np.concatenate([fitted[1], made[1]])
