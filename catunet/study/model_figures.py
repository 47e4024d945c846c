"""The study's figures that need the experiments' models and photos, drawn
at experiment time (``catunet.study.experiments``): the augmentation
techniques and predictions with and without augmentation, the pre-trained
model on its held-out images, and test photos before and after transfer.
A report links such a figure when its file is there, so draw them before
rendering."""

from pathlib import Path

import numpy as np

from catunet.study.reports import REPORTS, best_transferred, save_figures


def _model_of(run):
    from catunet.models.saving import load_model

    return load_model(Path(run["config"]["out"]) / f"{run['config']['stage']}.keras")


def _predict(model, images):
    from catunet.inference.predict import predict_probabilities

    return predict_probabilities(model, images)


def augmentation_figures(summary, study):
    """The technique gallery and the test-image figures."""
    from catunet.data import loading
    from catunet.data.augment import Augmenter, TECHNIQUES, parse_spec
    from catunet.figures import prediction_grid, technique_gallery

    image, mask = loading.load_pair(study.train_pairs[0], study.base.image_size)
    augmenters = {name: Augmenter(parse_spec(name), seed=1) for name in TECHNIQUES}
    augmenters["all (one random draw)"] = Augmenter(parse_spec("recommended"),
                                                    seed=2)
    figures = {"augmentation-techniques.png":
               technique_gallery(image, mask, augmenters)}

    images, masks = study.test
    best = summary["winner"]
    winner_run = summary["results"][best][0]
    predicted = _predict(_model_of(winner_run), images) > 0.5
    scores = winner_run["test_dice_per_image"]
    titles = [f"{p.image.name} Dice {d:.2f}"
              for p, d in zip(study.test_pairs, scores)]
    figures["augmentation-test-grid.png"] = prediction_grid(
        images, masks, predicted.astype(np.float32), titles, per_row=3)

    if "none" in summary["results"] and best != "none":
        figures["augmentation-test-large.png"] = before_after(
            study, summary["results"]["none"][0], winner_run,
            ["no augmentation", best])
    return figures


def draw_augmentation_figures(summary, study, folder=REPORTS):
    """Saves the augmentation report's model-drawn figures: the technique
    gallery, the winner's test predictions, and with and without
    augmentation on its worst, median and best test photo."""
    save_figures(augmentation_figures(summary, study), folder)


def before_after(study, before, after, labels, picks=None):
    """Test images with the predictions of two runs (run dicts, as in the
    summaries); each row gives its Dice before -> after.

    Args:
        picks: Indices of the test images; by default the worst, median and
            best of the ``after`` run.
    """
    from catunet.figures import pairs_grid

    images, masks = study.test
    scores = after["test_dice_per_image"]
    if picks is None:
        order = np.argsort(scores)
        picks = [order[0], order[len(order) // 2], order[-1]]
    predicted = [_predict(_model_of(run), images[picks]) > 0.5
                 for run in (before, after)]
    rows = [[images[i], masks[i], predicted[0][k].astype(np.float32),
             predicted[1][k].astype(np.float32)] for k, i in enumerate(picks)]
    titles = [f"{study.test_pairs[i].image.name}\n"
              f"{before['test_dice_per_image'][i]:.2f} -> {scores[i]:.2f}"
              for i in picks]
    return pairs_grid(rows, size=3.0, row_titles=titles,
                      column_titles=["photo", "ground truth", *labels])


def held_out_figure(pretrain_run, count=4):
    """Predictions of the pre-trained model on its own held-out images."""
    from catunet.data import loading, split as splits
    from catunet.figures import prediction_grid
    from catunet.models.metrics import dice_coefficient
    from catunet.models.saving import load_model

    folder = Path(pretrain_run["model"]).parent
    data_dir = pretrain_run["config"]["data_dir"]
    manifest = splits.load_split(folder / "split.json")
    _, test = splits.resolve_split(manifest, loading.find_pairs(data_dir))
    picks = test[:: max(1, len(test) // count)][:count]
    images, masks = loading.load_pairs(picks, pretrain_run["config"]["image_size"])
    probabilities = _predict(load_model(pretrain_run["model"]), images)
    dice = dice_coefficient(masks.astype(np.float32), probabilities)
    return prediction_grid(
        images, masks, (probabilities > 0.5).astype(np.float32),
        [f"{p.image.name} Dice {d:.2f}" for p, d in zip(picks, np.asarray(dice))],
        per_row=2, size=2.0)


def draw_transfer_figures(summary, study, folder=REPORTS):
    """Saves the transfer report's model-drawn figures: the pre-trained
    model on its own held-out images, and before and after transfer on the
    best transferred variant's worst, median and best test photo."""
    results, source = summary["results"], summary["pretrain"]
    figures = {}
    if "held_out" in source:
        figures["transfer-pretrain.png"] = held_out_figure(source)
    best = best_transferred(summary)
    if best and "scratch" in results:
        figures["transfer-before-after.png"] = before_after(
            study, results["scratch"][0], results[best][0],
            ["from scratch", best])
    save_figures(figures, folder)
