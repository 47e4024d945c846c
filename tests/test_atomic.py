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
