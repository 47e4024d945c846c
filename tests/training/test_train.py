"""Training runs end to end, at tiny widths."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from catunet.data import loading, split
from catunet.errors import CatunetError
from catunet.inference.evaluate import evaluate
from catunet.models.saving import load_model
from catunet.models.unet import build_unet
from catunet.training.config import TrainConfig
from catunet.training.machine import has_bf16
from catunet.training.train import train
from tests.conftest import ROOT


def tiny(tmp_path, data_dir, **overrides):
    values = dict(data_dir=str(data_dir), split=str(tmp_path / "split.json"),
                  width=2, depth=2, epochs=1, batch_size=4, image_size=32,
                  out=str(tmp_path / "run"))
    return TrainConfig(**{**values, **overrides})


def history_epochs(run_dir):
    with open(run_dir / "history.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_run_folder_holds_model_config_history_split(tmp_path, shapes_dir):
    config = tiny(tmp_path, shapes_dir, folds=3, val_fold=1)
    run = train(config, verbose=0)
    folder = tmp_path / "run"
    assert run.model_path == folder / "cats.keras"
    assert TrainConfig.load(folder / "config.json") == run.config
    manifest = json.loads((folder / "split.json").read_text())
    assert manifest == json.loads((tmp_path / "split.json").read_text())
    with open(folder / "history.csv") as f:
        assert "val_dice_coefficient" in next(csv.DictReader(f))
    assert not list(folder.glob("checkpoints*"))


class Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise KeyboardInterrupt


def test_interrupted_run_resumes_from_last_epoch(tmp_path, shapes_dir):
    config = tiny(tmp_path, shapes_dir, epochs=4)
    with pytest.raises(KeyboardInterrupt):
        train(config, verbose=0, callbacks=[Interrupt()])
    assert not (tmp_path / "run" / "cats.keras").exists()
    assert history_epochs(tmp_path / "run") == [0, 1]
    run = train(config, verbose=0)
    assert run.resumed_from == 2
    assert history_epochs(tmp_path / "run") == [0, 1, 2, 3]


def test_finished_run_is_not_trained_again(tmp_path, shapes_dir):
    config = tiny(tmp_path, shapes_dir)
    train(config, verbose=0)
    before = (tmp_path / "run" / "cats.keras").stat().st_mtime_ns
    train(config, verbose=0)
    assert (tmp_path / "run" / "cats.keras").stat().st_mtime_ns == before


def test_run_folder_with_other_settings_is_refused(tmp_path, shapes_dir):
    train(tiny(tmp_path, shapes_dir), verbose=0)
    # The same folder by another path is no change; the loss is.
    elsewhere = shapes_dir / ".." / shapes_dir.name
    with pytest.raises(CatunetError, match="other settings.*loss") as error:
        train(tiny(tmp_path, elsewhere, loss="dice"), verbose=0)
    assert "data_dir" not in str(error.value)


def test_key_changes_name_what_differs():
    from catunet.training.provenance import key_changes

    recorded = {"config": {"loss": "bce", "width": 8}, "init_sha256": "a",
                "data": "d", "code_version": "0.2.0"}
    now = {"config": {"loss": "dice", "width": 8}, "init_sha256": "b",
           "data": "d", "code_version": "0.2.0"}
    assert key_changes(recorded, now) == [
        "loss: 'bce' -> 'dice'", "the --init file's contents"]
    assert key_changes(now, now) == []


def test_training_refuses_an_overlapping_manifest(tmp_path, shapes_dir):
    manifest = split.make_split(loading.find_pairs(shapes_dir))
    manifest["train"].append(manifest["test"][0])
    split.save_split(manifest, tmp_path / "split.json")
    with pytest.raises(CatunetError, match="share"):
        train(tiny(tmp_path, shapes_dir), verbose=0)
    assert not (tmp_path / "run").exists()


def test_training_never_sees_test_images(tmp_path, shapes_dir, monkeypatch):
    seen = []
    real = loading.load_pairs
    monkeypatch.setattr(loading, "load_pairs",
                        lambda pairs, size: seen.extend(pairs) or real(pairs, size))
    train(tiny(tmp_path, shapes_dir, folds=3), verbose=0)
    test = {image for image, _ in
            json.loads((tmp_path / "split.json").read_text())["test"]}
    assert seen and not test & {p.image.name for p in seen}


def test_end_to_end_on_the_cat_set(tmp_path, cats_dir):
    """One epoch at width 4 on the real cats; evaluate; reload."""
    config = TrainConfig(data_dir=str(cats_dir),
                         split=str(ROOT / "data" / "splits" / "cats.json"),
                         width=4, epochs=1, out=str(tmp_path / "run"))
    run = train(config, verbose=0)
    report = evaluate(run.model_path, cats_dir)
    assert report["count"] == 24 and report["subset"] == "test"
    assert 0.0 <= report["mean"]["dice"] <= 1.0
    scores = [row["dice"] for row in report["images"]]
    assert report["mean"]["dice"] == pytest.approx(np.mean(scores))
    model = load_model(run.model_path)
    assert model.count_params() > 0 and model.input_shape == (None, 128, 128, 3)


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_cli_help_explains_every_flag():
    out = run_cli("train.py", "--help").stdout
    for flag in ["--stage", "--data-dir", "--loss", "--epochs", "--width",
                 "--seed", "--out", "--init", "--split", "--folds",
                 "--freeze-epochs", "--fine-tune-learning-rate"]:
        assert flag in out
    out = run_cli("evaluate.py", "--help").stdout
    for flag in ["--model", "--data-dir", "--all", "--json"]:
        assert flag in out


def test_cli_train_then_evaluate_all(tmp_path, shapes_dir):
    result = run_cli("train.py", "--recipe", "paper", "--data-dir",
                     str(shapes_dir), "--width", "2",
                     "--epochs", "1", "--split", str(tmp_path / "s.json"),
                     "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    result = run_cli("evaluate.py", "--model", str(tmp_path / "run" / "cats.keras"),
                     "--data-dir", str(shapes_dir), "--all", "--tta",
                     "--threshold", "0.4", "--save-settings")
    assert result.returncode == 0, result.stderr
    assert "12 all images" in result.stdout
    saved = json.loads((tmp_path / "run" / "eval-shapes.json").read_text())
    assert saved["count"] == 12 and len(saved["images"]) == 12
    from catunet.inference.predict import Settings
    assert Settings.beside(tmp_path / "run" / "cats.keras") == Settings(
        tta=True, threshold=0.4)


@pytest.mark.parametrize("make, reason", [
    (lambda p: None, "model file not found"),
    (lambda p: p.write_text("not a model"), "not a loadable Keras model"),
])
def test_cli_evaluate_bad_model(tmp_path, shapes_dir, make, reason):
    path = tmp_path / "m.keras"
    make(path)
    result = run_cli("evaluate.py", "--model", str(path),
                     "--data-dir", str(shapes_dir), "--all")
    assert result.returncode == 1
    assert f"{path}: {reason}" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_train_bad_data_dir(tmp_path):
    result = run_cli("train.py", "--data-dir", str(tmp_path / "none"))
    assert result.returncode == 1
    assert "data folder not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_init_restores_weights_by_name(tmp_path, shapes_dir):
    from catunet.models.saving import restore_weights
    from catunet.models.unet import build_model

    first = train(tiny(tmp_path, shapes_dir, out=str(tmp_path / "a")), verbose=0)
    b = build_model(tiny(tmp_path, shapes_dir))
    assert restore_weights(b, first.model_path) == sum(
        1 for layer in b.layers if layer.weights)
    a = load_model(first.model_path)
    for layer in a.layers:
        for wa, wb in zip(layer.get_weights(), b.get_layer(layer.name).get_weights(), strict=True):
            np.testing.assert_array_equal(wa, wb)


def weights_by_layer(model, prefix):
    return {layer.name: layer.get_weights() for layer in model.layers
            if layer.name.startswith(prefix) and layer.weights}


def same_weights(a, b):
    return all(np.array_equal(x, y) for name in a
               for x, y in zip(a[name], b[name], strict=True))


class InterruptAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_encoder_frozen_then_unfrozen_at_a_lower_rate(tmp_path, shapes_dir):
    pretrained = train(tiny(tmp_path, shapes_dir, out=str(tmp_path / "a")),
                       verbose=0)
    source = load_model(pretrained.model_path)
    config = tiny(tmp_path, shapes_dir, init=str(pretrained.model_path),
                  epochs=2, freeze_epochs=1, fine_tune_learning_rate=1e-4)
    with pytest.raises(KeyboardInterrupt):
        train(config, verbose=0, callbacks=[InterruptAt(1)])
    frozen = load_model(tmp_path / "run" / "frozen.keras")
    assert same_weights(weights_by_layer(source, "enc"),
                        weights_by_layer(frozen, "enc"))
    assert not same_weights(weights_by_layer(source, "dec"),
                            weights_by_layer(frozen, "dec"))

    run = train(config, verbose=0)  # resumes with the encoder unfrozen
    final = load_model(run.model_path)
    assert run.resumed_from == 1
    assert history_epochs(tmp_path / "run") == [0, 1]
    assert not same_weights(weights_by_layer(frozen, "enc"),
                            weights_by_layer(final, "enc"))
    assert all(layer.trainable for layer in final.layers)
    assert float(final.optimizer.learning_rate) == pytest.approx(1e-4)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "cats.keras", "config.json", "history.csv", "run.json",
        "split.json"]


@pytest.mark.parametrize("overrides, reason", [
    (dict(freeze_epochs=1, epochs=2), "needs --init"),
    (dict(freeze_epochs=2, epochs=2, init="INIT"),
     r"--freeze-epochs must be below --epochs \(2\), got 2"),
    (dict(fine_tune_learning_rate=1e-4), "applies after --freeze-epochs"),
])
def test_bad_freeze_settings_are_refused(tmp_path, shapes_dir, overrides,
                                         reason):
    if overrides.get("init"):  # an untrained model is enough to pass --init
        overrides["init"] = str(tmp_path / "init.keras")
        build_unet((32, 32, 3), base_filters=2, depth=2).save(overrides["init"])
    with pytest.raises(CatunetError, match=reason):
        train(tiny(tmp_path, shapes_dir, **overrides), verbose=0)
    assert not (tmp_path / "run").exists()  # refused before any work


@pytest.mark.parametrize("make, reason", [
    (lambda p: None, "model file not found"),
    (lambda p: p.write_bytes(b"PK\x03\x04junk"), "not a loadable Keras model"),
])
def test_init_must_be_a_model(tmp_path, shapes_dir, make, reason):
    path = tmp_path / "init.keras"
    make(path)
    with pytest.raises(CatunetError, match=reason):
        train(tiny(tmp_path, shapes_dir, init=str(path)), verbose=0)


def test_init_with_another_width_is_refused(tmp_path, shapes_dir):
    first = train(tiny(tmp_path, shapes_dir, out=str(tmp_path / "a")), verbose=0)
    with pytest.raises(CatunetError, match="--width or --depth"):
        train(tiny(tmp_path, shapes_dir, width=4, out=str(tmp_path / "b"),
                   init=str(first.model_path)), verbose=0)


def test_evaluate_defaults_to_the_folder_the_model_was_trained_on(
        tmp_path, shapes_dir, monkeypatch):
    run = train(tiny(tmp_path, shapes_dir), verbose=0)
    # The run's own folder beats the environment's, which names another set.
    monkeypatch.setenv("CATUNET_DATA_DIR", str(tmp_path / "other"))
    report = evaluate(run.model_path)
    assert report["data_dir"] == str(shapes_dir)
    test = json.loads((tmp_path / "split.json").read_text())["test"]
    assert [row["image"] for row in report["images"]] == [i for i, _ in test]


@pytest.mark.parametrize("argv, expected", [
    ([], "recommended"), (["--augment"], "recommended"),
    (["--augment", "none"], "none"), (["--augment", "flip,elastic=3"], "flip,elastic=3"),
])
def test_augment_flag(argv, expected):
    from catunet.cli import make_parser
    assert make_parser(only="train").parse_args(argv).augment == expected


def test_cli_bad_augment_spec_is_one_line(tmp_path, shapes_dir):
    result = run_cli("train.py", "--data-dir", str(shapes_dir),
                     "--augment", "blur", "--out", str(tmp_path / "r"))
    assert result.returncode == 1
    assert "unknown augmentation 'blur'" in result.stderr
    assert "Traceback" not in result.stderr


def test_pretrain_stage_on_any_folder(tmp_path, shapes_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = TrainConfig(stage="pretrain", data_dir=str(shapes_dir), width=2,
                         depth=2, epochs=1, image_size=32)
    run = train(config, verbose=0)
    assert run.model_path.resolve() == tmp_path / "runs" / "pretrain" / "pretrain.keras"
    # The folder got its own split, made on first use.
    manifest = json.loads((tmp_path / "data" / "splits" / "shapes.json").read_text())
    assert len(manifest["test"]) == 4


HORSES = ROOT.parent / "shared" / "data" / "horses"


@pytest.mark.skipif(not HORSES.is_dir(), reason=f"{HORSES} is not here")
def test_cli_pretrain_on_the_horses_then_init_the_cats(tmp_path, cats_dir):
    """Both transfer stages from the command line, on the real folders, at
    a tiny width; the horses' split is the committed one."""
    result = run_cli("train.py", "--recipe", "paper", "--stage", "pretrain",
                     "--data-dir", str(HORSES), "--width", "2", "--epochs", "1",
                     "--out", str(tmp_path / "pre"))
    assert result.returncode == 0, result.stderr
    assert "Training on 230 images (test set of 98 untouched)" in result.stdout
    result = run_cli("train.py", "--recipe", "paper", "--data-dir",
                     str(cats_dir), "--width", "2", "--epochs", "2", "--init", str(tmp_path / "pre" /
                                                    "pretrain.keras"),
                     "--freeze-epochs", "1", "--fine-tune-learning-rate",
                     "1e-4", "--out", str(tmp_path / "cats"))
    assert result.returncode == 0, result.stderr
    assert "Restored 23 of 23 layers" in result.stdout
    assert "encoder frozen" in result.stdout


def test_pretrain_needs_a_data_dir(monkeypatch):
    monkeypatch.delenv("CATUNET_DATA_DIR", raising=False)
    with pytest.raises(CatunetError, match="--stage pretrain needs --data-dir"):
        train(TrainConfig(stage="pretrain"), verbose=0)


def test_voc_stage_on_dummy_voc(tmp_path):
    from catunet.data.datasets.voc_segmentation import voc_segmentation_dataset_builder as voc

    dummy = voc.__file__.replace("voc_segmentation_dataset_builder.py", "dummy_data")
    config = TrainConfig(stage="voc", manual_dir=dummy,
                         tfds_dir=str(tmp_path / "tfds"), width=2, depth=2,
                         epochs=1, image_size=32, out=str(tmp_path / "voc"))
    run = train(config, verbose=0)
    assert run.model_path.name == "voc.keras"
    assert not (tmp_path / "voc" / "split.json").exists()  # VOC's own splits
    with open(tmp_path / "voc" / "history.csv") as f:
        assert "val_dice_coefficient" in next(csv.DictReader(f))


def test_mixed_precision_keeps_the_output_float32(tmp_path, shapes_dir):
    run = train(tiny(tmp_path, shapes_dir, precision="mixed_bfloat16"),
                verbose=0)
    model = load_model(run.model_path)
    assert model.get_layer("enc1_conv1").dtype_policy.compute_dtype == "bfloat16"
    assert model.get_layer("mask").dtype_policy.name == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"  # restored
    with pytest.raises(CatunetError, match="--precision must be one of auto, .*got .int8."):
        train(tiny(tmp_path, shapes_dir, precision="int8",
                   out=str(tmp_path / "b")), verbose=0)


def test_pretrain_on_several_folders_guards_the_test_photos(tmp_path,
                                                           monkeypatch):
    """Two folders at once, one holding a copy of a protected test photo:
    the copy is left out and listed, both folders get their own split."""
    import shutil

    from tests.conftest import write_folder

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CATUNET_DATA_DIR", raising=False)  # CI sets it
    cats = write_folder(tmp_path / "cats", n=10, seed=5)
    train(tiny(tmp_path, cats, split=None, out=str(tmp_path / "c")),
          verbose=0)  # makes data/splits/cats.json
    test_photo = json.loads((tmp_path / "data" / "splits" / "cats.json")
                            .read_text())["test"][0]
    first = write_folder(tmp_path / "first", n=10, seed=1)
    second = write_folder(tmp_path / "second", n=10, seed=2)
    manifests = {}
    for folder in (first, second):
        train(tiny(tmp_path, folder, split=None, stage="pretrain", protect="",
                   out=str(tmp_path / f"p-{folder.name}")), verbose=0)
        manifests[folder.name] = json.loads(
            (tmp_path / "data" / "splits" / f"{folder.name}.json").read_text())
    copy = manifests["second"]["train"][0]
    shutil.copy(cats / "images" / test_photo[0], second / "images" / copy[0])
    (tmp_path / "data" / "splits" / "second.json").unlink()  # files changed
    config = tiny(tmp_path, f"{first},{second}", split=None, stage="pretrain",
                  protect=str(cats), out=str(tmp_path / "both"))
    run = train(config, verbose=0)
    left_out = json.loads((run.folder / "duplicates.json").read_text())
    assert [Path(d["path"]).name for d in left_out["left_out"]] == [copy[0]]
    assert set(json.loads((run.folder / "split.json").read_text())[
        "sources"]) == {"first", "second"}


def test_copy_paste_adds_composites_to_the_fitted_photos(tmp_path, shapes_dir,
                                                        capsys):
    from tests.conftest import write_folder

    backgrounds = write_folder(tmp_path / "backgrounds", n=6, seed=3)
    config = tiny(tmp_path, shapes_dir, folds=3, copy_paste=1.0,
                  paste_backgrounds=str(backgrounds))
    train(config, verbose=0)
    out = capsys.readouterr().out
    # 12 pairs: 4 test, 8 train = 5 fitted + 3 validation; 5 composites.
    assert "Copy-paste: 5 composites on 5 background photos" in out
    assert "Training on 10 images, validating on 3" in out


def test_mosaics_are_added_beside_copy_paste_composites(tmp_path, shapes_dir,
                                                       capsys):
    config = tiny(tmp_path, shapes_dir, folds=3, copy_paste=1.0, mosaic=1.0)
    train(config, verbose=0)
    out = capsys.readouterr().out
    # 5 fitted photos: 5 composites and 5 mosaics of the photos themselves.
    assert "Mosaic: 5 mosaics of four fitted photos each" in out
    assert "Training on 15 images, validating on 3" in out
    with pytest.raises(CatunetError, match=r"--mosaic must be a number in \[0, 10\], got -1.0"):
        train(tiny(tmp_path, shapes_dir, mosaic=-1.0,
                   out=str(tmp_path / "m")), verbose=0)
    # Five fitted photos cannot fill a 3x3 grid: only 2x2 mosaics are made.
    train(tiny(tmp_path, shapes_dir, folds=3, mosaic=1.0, mosaic_grids="2,3",
               out=str(tmp_path / "grids")), verbose=0)
    assert "Mosaic: 5 mosaics of four fitted photos each" in \
        capsys.readouterr().out
    with pytest.raises(CatunetError, match="--mosaic-grids goes with"):
        train(tiny(tmp_path, shapes_dir, mosaic_grids="2,3",
                   out=str(tmp_path / "g")), verbose=0)
    with pytest.raises(CatunetError, match="--mosaic-grids must be"):
        train(tiny(tmp_path, shapes_dir, mosaic=1.0, mosaic_grids="5",
                   out=str(tmp_path / "g")), verbose=0)


def test_negatives_are_added_with_empty_masks_and_enter_the_key(tmp_path,
                                                              shapes_dir):
    from catunet.training import provenance
    from catunet.training.inputs import load_arrays, resolve_paths
    from tests.conftest import write_folder

    others = write_folder(tmp_path / "others", n=6, seed=3)
    some = f"{others}/images/shape.[0-3].*"
    config = resolve_paths(tiny(tmp_path, shapes_dir, folds=3, negatives=0.6,
                                negative_photos=some))
    arrays = load_arrays(config, config.data_dir)
    # 5 fitted photos: 3 negatives, drawn from the 4 photos the pattern names.
    images, masks = arrays.train
    assert len(images) == 8 and masks[:5].any() and not masks[5:].any()
    plain = resolve_paths(tiny(tmp_path, shapes_dir, folds=3))
    fitted = load_arrays(plain, plain.data_dir).train[0]
    assert np.array_equal(images[:5], fitted)
    every = resolve_paths(tiny(tmp_path, shapes_dir, folds=3, negatives=0.6,
                               negative_photos=str(others)))
    key = provenance.run_key(config, arrays.manifest)
    assert key != provenance.run_key(plain, arrays.manifest)
    inputs = provenance.key_inputs(every, arrays.manifest)
    assert provenance.key_changes(
        provenance.key_inputs(config, arrays.manifest), inputs) == [
        "the --negative-photos photos"]
    for wrong, match in (({"negatives": 0.5}, "goes with --negatives or"),
                         ({"negatives": -1.0, "negative_photos": str(others)},
                          r"--negatives must be a number in \[0, 10\]"),
                         ({"negatives": 0.5,
                           "negative_photos": f"{others}/images/dog_*"},
                          "no photos match")):
        with pytest.raises(CatunetError, match=match):
            resolve_paths(tiny(tmp_path, shapes_dir, **wrong))


def test_negative_pastes_add_cat_photos_with_less_cat(tmp_path, shapes_dir):
    from catunet.training import provenance
    from catunet.training.inputs import load_arrays, resolve_paths
    from tests.conftest import write_folder

    others = write_folder(tmp_path / "others", n=6, seed=3)
    config = resolve_paths(tiny(tmp_path, shapes_dir, folds=3,
                                negative_pastes=0.6,
                                negative_photos=f"{others}/images/*"))
    arrays = load_arrays(config, config.data_dir)
    plain = resolve_paths(tiny(tmp_path, shapes_dir, folds=3))
    fitted = load_arrays(plain, plain.data_dir).train
    # 5 fitted photos: 3 composites, each a fitted photo whose mask only
    # loses foreground where something was pasted over it.
    images, masks = arrays.train
    assert len(images) == 8 and np.array_equal(images[:5], fitted[0])
    changed = [min(range(5), key=lambda i: np.abs(
        image.astype(int) - fitted[0][i]).sum()) for image in images[5:]]
    for made, source in zip(masks[5:], changed):
        assert not (made & ~fitted[1][source]).any()
    assert provenance.run_key(config, arrays.manifest) != \
        provenance.run_key(plain, arrays.manifest)
    for wrong, match in (({"negative_pastes": 0.5}, "goes with --negatives or"),
                         ({"negative_pastes": -1.0,
                           "negative_photos": str(others)},
                          r"--negative-pastes must be a number in \[0, 10\]")):
        with pytest.raises(CatunetError, match=match):
            resolve_paths(tiny(tmp_path, shapes_dir, **wrong))
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "a.jpg").write_bytes((others / "images/shape.0.jpg").read_bytes())
    with pytest.raises(CatunetError, match="not in one"):
        resolve_paths(tiny(tmp_path, shapes_dir, negative_pastes=0.5,
                           negative_photos=str(loose)))


def test_cosine_schedule_warms_up_then_decays_to_zero(tmp_path, shapes_dir):
    config = tiny(tmp_path, shapes_dir, epochs=4, schedule="cosine",
                  warmup_epochs=1)
    run = train(config, verbose=0)
    rate = load_model(run.model_path).optimizer.learning_rate
    assert float(rate) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(CatunetError, match="warmup"):
        train(tiny(tmp_path, shapes_dir, warmup_epochs=1,
                   out=str(tmp_path / "w")), verbose=0)


def test_weight_average_is_kept_only_where_the_encoder_trains(tmp_path,
                                                              shapes_dir):
    from catunet.training.train import compile_model

    config = tiny(tmp_path, shapes_dir, ema=0.95)
    optimizer = compile_model(config).optimizer
    assert optimizer.use_ema and optimizer.ema_momentum == 0.95
    assert not compile_model(config, frozen_encoder=True).optimizer.use_ema
    assert not compile_model(tiny(tmp_path, shapes_dir)).optimizer.use_ema
    with pytest.raises(CatunetError, match="--ema"):
        train(tiny(tmp_path, shapes_dir, ema=1.0), verbose=0)


def test_auto_precision_is_resolved_and_recorded(tmp_path, shapes_dir,
                                                 monkeypatch):
    from catunet.training import machine

    monkeypatch.setattr(machine, "best_precision",
                        lambda encoder="paper": "float32")
    run = train(tiny(tmp_path, shapes_dir), verbose=0)
    assert TrainConfig().precision == "auto"
    assert run.config.precision == "float32"
    record = json.loads((run.folder / "run.json").read_text())
    assert record["config"]["precision"] == "float32"


@pytest.mark.skipif(not has_bf16(),
                    reason="this CPU has no AVX512-BF16 or AMX: bfloat16 "
                    "would be emulated, so auto precision stays float32")
def test_bfloat16_reaches_the_dice_of_float32(tmp_path, shapes_dir):
    # 30 epochs: both converge (at 15 they are still 0.85 and 0.92 apart,
    # measured on an AMX Xeon; at 30, 0.963 and 0.952).
    def dice(precision):
        run = train(tiny(tmp_path, shapes_dir, width=4, epochs=30,
                         learning_rate=3e-3, precision=precision,
                         out=str(tmp_path / precision)), verbose=0)
        return evaluate(run.model_path, str(shapes_dir),
                        split_path=str(tmp_path / "split.json"))["mean"]["dice"]

    assert abs(dice("mixed_bfloat16") - dice("float32")) < 0.05


def test_the_protected_folder_is_one_key_however_its_path_is_written(
        tmp_path, shapes_dir, monkeypatch):
    import dataclasses

    from catunet.training.train import run_key_for

    monkeypatch.chdir(tmp_path)
    base = TrainConfig(stage="pretrain", data_dir=str(shapes_dir), width=2,
                       depth=2, epochs=1, image_size=32)
    plain = run_key_for(dataclasses.replace(base, protect=str(shapes_dir)))
    roundabout = shapes_dir / ".." / shapes_dir.name
    assert run_key_for(dataclasses.replace(base, protect=str(roundabout))) \
        == plain
    assert run_key_for(dataclasses.replace(
        base, protect=shapes_dir.name)) == plain  # relative to the cwd
    assert run_key_for(dataclasses.replace(base, protect="")) != plain


def test_init_must_hold_the_model_the_encoder_flag_builds(tmp_path,
                                                         shapes_dir):
    """``--init`` continues a saved model: a paper U-Net, or another
    encoder's, under --encoder efficientnet-lite0 is refused with the flag
    that fixes it, before anything trains."""
    import dataclasses

    from catunet.models.unet import build_model

    paper = tmp_path / "paper.keras"
    build_model(TrainConfig(width=2, depth=2, image_size=32)).save(paper)
    config = TrainConfig(data_dir=str(shapes_dir), encoder="efficientnet-lite0",
                         image_size=32, epochs=1, init=str(paper),
                         out=str(tmp_path / "run"))
    with pytest.raises(CatunetError, match=r"paper.keras holds a paper "
                       r"U-Net, but --encoder is efficientnet-lite0.*"
                       r"--recipe paper"):
        train(config, verbose=0)
    assert not (tmp_path / "run").exists()
    lite2 = tmp_path / "lite2.keras"
    build_model(TrainConfig(encoder="efficientnet-lite2", image_size=32),
                pretrained=False).save(lite2)
    with pytest.raises(CatunetError, match=r"lite2.keras holds a "
                       r"efficientnet-lite2 U-Net, but --encoder is "
                       r"efficientnet-lite0: continue it with --encoder "
                       r"efficientnet-lite2$"):
        train(dataclasses.replace(config, init=str(lite2)), verbose=0)
    assert not (tmp_path / "run").exists()


def test_freeze_stride_keeps_the_early_encoder_layers_as_loaded(tmp_path,
                                                               shapes_dir):
    """``--freeze-stride 4``: after training, every encoder layer at
    stride 2 or 4 (weights and BatchNorm statistics) is as ImageNet left
    it, and every later one has moved."""
    from catunet.models.encoders.efficientnet_lite import strides
    from catunet.models.unet import build_model

    config = tiny(tmp_path, shapes_dir, encoder="efficientnet-lite0",
                  freeze_stride=4)
    run = train(config, verbose=0)
    trained = load_model(run.model_path).get_layer("encoder")
    loaded = build_model(config).get_layer("encoder")
    at = strides("efficientnet-lite0")
    kept = {}
    for layer in trained.layers:
        if layer.weights and layer.name.split("_")[0] in at:
            kept[layer.name] = all(
                np.array_equal(a, b) for a, b in zip(
                    layer.get_weights(),
                    loaded.get_layer(layer.name).get_weights()))
    early = {name for name in kept if at[name.split("_")[0]] <= 4}
    assert early and len(early) < len(kept)
    assert {name for name, same in kept.items() if same} == early


@pytest.mark.parametrize("overrides", [dict(freeze_stride=4),
                                       dict(encoder="efficientnet-lite0",
                                            freeze_stride=3)])
def test_freeze_stride_needs_a_pretrained_encoder_and_a_stride(overrides):
    with pytest.raises(CatunetError, match="--freeze-stride is 2, 4, 8 or "
                       "16 with a pretrained --encoder, or 0; got"):
        TrainConfig(**overrides)
