import numpy as np
import pytest

from catunet import atomic
from catunet.models.losses import LOSSES
from catunet.models.saving import load_model
from catunet.models.unet import build_unet
from catunet.training.config import TrainConfig
from catunet.training.train import compile_model


def paper_parameter_count(width, depth, channels=3):
    """Parameters of the paper's U-Net with one output channel, by hand."""
    def conv(k, cin, cout):
        return k * k * cin * cout + cout
    total, cin = 0, channels
    for level in range(depth + 1):          # contracting path + bottleneck
        cout = width * 2**level
        total += conv(3, cin, cout) + conv(3, cout, cout)
        cin = cout
    for level in range(depth - 1, -1, -1):  # expanding path
        cout = width * 2**level
        total += conv(2, cin, cout)         # up-convolution halves channels
        total += conv(3, 2 * cout, cout) + conv(3, cout, cout)
        cin = cout
    return total + conv(1, cin, 1)


@pytest.mark.parametrize("width, depth", [(64, 4), (8, 3)])
def test_architecture_matches_the_paper(width, depth):
    model = build_unet(base_filters=width, depth=depth)
    assert model.count_params() == paper_parameter_count(width, depth)
    assert model.output_shape == (None, 128, 128, 1)


def test_paper_width_has_31_million_parameters():
    assert paper_parameter_count(64, 4) == 31_031_745


def test_layers_are_named_by_stage():
    names = {layer.name for layer in build_unet(base_filters=4, depth=2).layers}
    for name in ["enc1_conv1", "enc2_conv2", "enc2_pool", "bottleneck_conv1",
                 "dec2_upconv", "dec1_concat", "dec1_conv2", "mask"]:
        assert name in names


def test_batch_norm_and_dropout_are_options():
    names = {l.name for l in build_unet(base_filters=4, depth=2,
                                        batch_norm=True, dropout=0.5).layers}
    assert {"enc1_bn1", "bottleneck_dropout"} <= names


@pytest.mark.parametrize("kwargs, match", [
    ({"input_shape": (100, 100, 3)}, "divisible"),
    ({"dropout": 1.0}, "dropout"),
    ({"base_filters": 0}, "at least 1"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_unet(**kwargs)


@pytest.mark.parametrize("loss", list(LOSSES))
def test_saved_model_reloads_without_custom_objects(tmp_path, loss):
    model = compile_model(TrainConfig(loss=loss, width=2, depth=2,
                                      image_size=32))
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    path = atomic.save_model(model, tmp_path / "m.keras")
    reloaded = load_model(path)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0),
                               model.predict(x, verbose=0), atol=1e-6)
    assert reloaded.loss.__name__ == LOSSES[loss].__name__
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_nonempty_loss_leaves_dice_out_only_for_empty_masks():
    from catunet.models import losses

    truth = np.zeros((2, 8, 8, 1), "float32")
    truth[0, 2:6, 2:6] = 1
    guess = np.full((2, 8, 8, 1), 0.2, "float32")
    both = np.asarray(losses.bce_dice_loss(truth, guess))
    nonempty = np.asarray(losses.bce_dice_nonempty_loss(truth, guess))
    bce = np.asarray(losses.bce_loss(truth, guess))
    assert nonempty[0] == pytest.approx(both[0])
    assert nonempty[1] == pytest.approx(bce[1])
    assert both[1] > bce[1] + 0.9  # soft Dice near 1 on the empty mask
