import pytest

from catunet import atomic


def test_write_json_replaces_whole_file(tmp_path):
    path = tmp_path / "a" / "x.json"
    atomic.write_json(path, {"a": 1})
    atomic.write_json(path, {"b": 2})
    assert path.read_text() == '{\n  "b": 2\n}\n'
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "x.json"
    atomic.write_json(path, {"old": True})
    with pytest.raises(TypeError):
        atomic.write_json(path, {"new": object()})  # not serialisable
    assert '"old": true' in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_the_same_model_saved_twice_is_the_same_file(tmp_path):
    import json
    import zipfile

    import keras

    from catunet.models.saving import load_model
    from catunet.models.unet import build_unet

    paths = []
    for i in range(2):  # two models: other Python ids for shared objects
        keras.utils.set_random_seed(0)
        model = build_unet((32, 32, 3), base_filters=2, depth=2)
        paths.append(atomic.save_model(model, tmp_path / f"{i}.keras"))
    assert paths[0].read_bytes() == paths[1].read_bytes()
    with zipfile.ZipFile(paths[0]) as saved:
        assert {i.date_time for i in saved.infolist()} == {atomic.FIXED_TIME}
        config = saved.read("config.json").decode()
        assert json.loads(saved.read("metadata.json"))["date_saved"] \
            == atomic.FIXED_DATE
    assert '"shared_object_id": 1}' in config
    loaded = load_model(paths[0])
    assert all((a == b).all() for a, b in zip(loaded.get_weights(),
                                              model.get_weights()))
    keras.utils.set_random_seed(1)
    other = build_unet((32, 32, 3), base_filters=2, depth=2)
    assert atomic.save_model(other, tmp_path / "2.keras").read_bytes() \
        != paths[0].read_bytes()
