"""Copy-paste synthesis on arrays small enough to check by eye."""

import numpy as np

from catunet.data import copypaste


def one_cat(size=32):
    image = np.zeros((size, size, 3), np.uint8)
    mask = np.zeros((size, size), np.uint8)
    image[8:16, 4:20] = (200, 100, 50)
    mask[8:16, 4:20] = 1
    return image, mask


def test_cutout_is_the_masks_bounding_box():
    image, mask = one_cat()
    [(pixels, cut)] = copypaste.cutouts(image[None], mask[None, ..., None])
    assert pixels.shape == (8, 16, 3) and cut.all()


def test_paste_scales_places_and_labels_the_cat():
    image, mask = one_cat()
    cutout = copypaste.cutouts(image[None], mask[None, ..., None])[0]
    background = np.full((32, 32, 3), 255, np.uint8)
    out, out_mask = copypaste.paste(background, np.zeros((32, 32), np.uint8),
                                    cutout, scale=0.25, top_left=(1.0, 0.0),
                                    flip=False)
    # Longer side 0.25 * 32 = 8 px wide, 4 px high, at the bottom-left.
    assert out_mask.sum() == 8 * 4 and out_mask[28:32, 0:8].all()
    assert (out[out_mask == 1] == (200, 100, 50)).all()
    assert (out[out_mask == 0] == 255).all()


def test_synthesize_is_seeded_and_keeps_masks_binary():
    image, mask = one_cat()
    images, masks = image[None], mask[None, ..., None]
    backgrounds = np.full((2, 32, 32, 3), 90, np.uint8)
    a = copypaste.synthesize(images, masks, backgrounds, 5, seed=1)
    b = copypaste.synthesize(images, masks, backgrounds, 5, seed=1)
    assert a[0].shape == (5, 32, 32, 3) and a[1].shape == (5, 32, 32, 1)
    np.testing.assert_array_equal(a[0], b[0])
    assert set(np.unique(a[1])) <= {0, 1} and a[1].sum() > 0
    # Every labelled pixel shows the cat's colour, every other the background.
    assert (a[0][a[1][..., 0] == 1] == (200, 100, 50)).all()
    assert (a[0][a[1][..., 0] == 0] == 90).all()


def test_paste_onto_a_wide_photo_scales_by_its_shorter_side():
    image, mask = one_cat()
    cutout = copypaste.cutouts(image[None], mask[None, ..., None])[0]
    background = np.full((16, 48, 3), 255, np.uint8)
    out, out_mask = copypaste.paste(background, np.zeros((16, 48), np.uint8),
                                    cutout, scale=0.5, top_left=(0.0, 1.0),
                                    flip=False)
    # Longer side 0.5 * 16 = 8 px wide, 4 px high, at the top-right.
    assert out.shape == (16, 48, 3)
    assert out_mask.sum() == 8 * 4 and out_mask[0:4, 40:48].all()


def test_a_pasted_negative_hides_the_cat_and_is_background():
    image, mask = one_cat()
    person = np.full((10, 5, 3), 30, np.uint8), np.ones((10, 5), np.uint8)
    out, out_mask = copypaste.paste(image, mask, person, scale=0.5,
                                    top_left=(0.0, 0.0), flip=False, label=0)
    # 16 px high, 8 px wide at the top-left: it covers the cat's
    # columns 4-7 of rows 8-15, which are no longer cat.
    assert (out[:16, :8] == 30).all() and not out_mask[:16, :8].any()
    assert out_mask.sum() == mask.sum() - 8 * 4
    assert out_mask[8:16, 8:20].all()


def test_paste_negatives_is_seeded_and_only_removes_cat():
    image, mask = one_cat()
    images = np.stack([image, image[:, ::-1]])
    masks = np.stack([mask, mask[:, ::-1]])[..., None]
    person = np.full((20, 10, 3), 30, np.uint8), np.ones((20, 10), np.uint8)
    a = copypaste.paste_negatives(images, masks, [person], 6, seed=2)
    b = copypaste.paste_negatives(images, masks, [person], 6, seed=2)
    assert a[0].shape == (6, 32, 32, 3) and a[1].shape == (6, 32, 32, 1)
    np.testing.assert_array_equal(a[0], b[0])
    # A negative is pasted onto every composite, and every cat pixel left
    # is a cat pixel of one of the photos.
    assert ((a[0] == 30).all(axis=-1).sum(axis=(1, 2)) > 0).all()
    cat = masks.any(axis=0)
    assert not (a[1] & ~cat[None]).any() and a[1].sum() < 6 * mask.sum()
    assert copypaste.paste_negatives(images, masks, [], 6, 2)[0].shape[0] == 0
