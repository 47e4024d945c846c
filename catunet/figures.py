"""Figures for the reports: functions that return matplotlib figures.

Nothing here writes files; the caller saves what it wants.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _show(ax, picture, title=None):
    if picture.ndim == 3 and picture.shape[-1] == 1:
        ax.imshow(picture[..., 0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(np.clip(picture, 0, 255).astype(np.uint8))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def pairs_grid(rows, row_titles=None, column_titles=None, size=1.6):
    """A grid of pictures: ``rows`` is a list of lists of arrays.

    RGB arrays (0-255) are drawn as photos, one-channel arrays (0/1) as masks.
    """
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, squeeze=False,
                             figsize=(size * n_cols, size * n_rows))
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i][j]
            if j < len(row):
                title = column_titles[j] if column_titles and i == 0 else None
                _show(ax, row[j], title)
            else:
                ax.axis("off")
        if row_titles:
            axes[i][0].set_ylabel(row_titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def technique_gallery(image, mask, augmenters):
    """One photo and its mask under each augmenter, side by side.

    Args:
        image: ``(H, W, 3)`` photo, 0-255.
        mask: ``(H, W, 1)`` mask, 0/1.
        augmenters: ``{title: callable(images, masks) -> (images, masks)}``.
    """
    rows, titles = [[image, mask]], ["original"]
    for title, augment in augmenters.items():
        out_image, out_mask = augment(image[None].astype(np.float32),
                                      mask[None].astype(np.float32))
        rows.append([np.asarray(out_image)[0], np.asarray(out_mask)[0]])
        titles.append(title)
    # Lay the (photo, mask) pairs out four to a row.
    per_row = 4
    grid = [sum(rows[k:k + per_row], []) for k in range(0, len(rows), per_row)]
    fig = pairs_grid(grid)
    for k, title in enumerate(titles):
        fig.axes[(k // per_row) * 2 * per_row + (k % per_row) * 2].set_title(
            title, fontsize=8)
    return fig


def prediction_grid(images, masks, predictions, titles, per_row=3, size=1.6):
    """Photo, ground truth and prediction of each image, side by side."""
    triples = [[images[i], masks[i], predictions[i]] for i in range(len(images))]
    grid = [sum(triples[k:k + per_row], [])
            for k in range(0, len(triples), per_row)]
    fig = pairs_grid(grid, size=size)
    for k, title in enumerate(titles):
        row, col = divmod(k, per_row)
        base = row * 3 * per_row + col * 3
        fig.axes[base].set_title(title, fontsize=7)
        fig.axes[base + 1].set_title("ground truth", fontsize=7)
        fig.axes[base + 2].set_title("prediction", fontsize=7)
    return fig


def outline_grid(pictures, titles, per_row=3, size=3.0, legend=True):
    """Outlined photos (any sizes) in a grid, each with its title.

    Args:
        legend: Explain the colours (red prediction, green ground truth).
    """
    from matplotlib.patches import Patch

    from catunet.inference.contours import PREDICTED, TRUTH

    n_rows = -(-len(pictures) // per_row)
    fig, axes = plt.subplots(n_rows, per_row, squeeze=False,
                             figsize=(size * per_row, size * n_rows * 0.85))
    for ax in axes.flat:
        ax.axis("off")
    for ax, picture, title in zip(axes.flat, pictures, titles):
        ax.imshow(picture)
        ax.set_title(title, fontsize=8 if size < 3 else 10)
    if legend:
        colours = [np.array(c) / 255 for c in (PREDICTED, TRUTH)]
        fig.legend(handles=[Patch(color=colours[0], label="prediction"),
                            Patch(color=colours[1], label="ground truth")],
                   loc="lower center", ncol=2, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.04 if legend else 0, 1, 1))
    return fig
