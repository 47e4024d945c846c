"""The download path, against a server on 127.0.0.1 serving a zip we build."""

import functools
import hashlib
import http.server
import threading
import zipfile

import pytest

from catunet.data.datasets import cats
from catunet.errors import CatunetError

FILES = {
    "Data/Train_Data/input/cat.0.jpg": b"photo zero",
    "Data/Train_Data/input/cat.1.jpg": b"photo one",
    "Data/Train_Data/mask/mask_cat.0.jpg": b"mask zero",
    "Data/Train_Data/mask/mask_cat.1.jpg": b"mask one",
    "README.md": b"not part of the set",
}


@pytest.fixture
def server(tmp_path):
    """Serves ``tmp_path/www`` on a free port of 127.0.0.1."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def build_archive(path, files):
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in files.items():
            zf.writestr(f"Cat-Segmentation-38d08c4/{name}", content)


def write_checksums(path, files):
    lines = []
    for name, content in files.items():
        for source, dest in cats.ARCHIVE_FOLDERS.items():
            if name.startswith(source):
                digest = hashlib.sha256(content).hexdigest()
                lines.append(f"{digest}  {dest}{name[len(source):]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_download_verifies_and_unpacks(server, tmp_path):
    www, url = server
    build_archive(www / "cats.zip", FILES)
    sums = write_checksums(tmp_path / "sums", FILES)
    target = cats.download_cats(tmp_path / "data" / "cats", f"{url}/cats.zip", sums)
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*.jpg")) \
        == ["images/cat.0.jpg", "images/cat.1.jpg",
            "masks/mask_cat.0.jpg", "masks/mask_cat.1.jpg"]
    assert (target / "images" / "cat.1.jpg").read_bytes() == b"photo one"
    assert [p.name for p in target.parent.iterdir()] == ["cats"]  # no leftovers


def test_a_changed_file_fails_and_leaves_nothing(server, tmp_path):
    www, url = server
    sums = write_checksums(tmp_path / "sums", FILES)
    build_archive(www / "cats.zip", {**FILES,
                  "Data/Train_Data/mask/mask_cat.1.jpg": b"tampered"})
    with pytest.raises(CatunetError, match="checksum differs: masks/mask_cat.1.jpg"):
        cats.download_cats(tmp_path / "data" / "cats", f"{url}/cats.zip", sums)
    assert list((tmp_path / "data").iterdir()) == []


def test_a_missing_file_fails(server, tmp_path):
    www, url = server
    sums = write_checksums(tmp_path / "sums", FILES)
    build_archive(www / "cats.zip", {k: v for k, v in FILES.items()
                                     if not k.endswith("input/cat.0.jpg")})
    with pytest.raises(CatunetError, match="missing: images/cat.0.jpg"):
        cats.download_cats(tmp_path / "cats", f"{url}/cats.zip", sums)


def test_offline_error_says_how_to_supply_the_data(server, tmp_path):
    _, url = server
    with pytest.raises(CatunetError, match="could not download.*--data-dir"):
        cats.download_cats(tmp_path / "cats", f"{url}/nothing-here.zip")
    assert not (tmp_path / "cats").exists()


def test_pinned_checksums_match_the_cat_set(cats_dir):
    sums = cats.read_checksums()
    assert len(sums) == 162
    cats.verify(cats_dir, sums)


def test_data_dir_flag_then_environment_then_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flag, env = tmp_path / "flag", tmp_path / "env"
    flag.mkdir()
    env.mkdir()
    monkeypatch.setenv(cats.DATA_ENV, str(env))
    assert cats.resolve_data_dir(str(flag)) == flag
    assert cats.resolve_data_dir() == env
    monkeypatch.delenv(cats.DATA_ENV)
    with pytest.raises(CatunetError, match="data folder not found.*--data-dir"):
        cats.resolve_data_dir(download=False)
    (tmp_path / "data" / "cats").mkdir(parents=True)
    assert cats.resolve_data_dir(download=False) == cats.DEFAULT_DIR


def test_missing_flag_folder_is_named(tmp_path):
    with pytest.raises(CatunetError, match="nowhere: data folder not found"):
        cats.resolve_data_dir(str(tmp_path / "nowhere"))
