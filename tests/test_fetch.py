"""Downloads against a real local HTTP server: verified files arrive, bad ones never do."""

import argparse
import functools
import gzip
import hashlib
import http.server
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
from data_helpers import needs_fashion_mnist

from pdsgd.data import datasets as data
from pdsgd.data import fetch
from pdsgd.data.datasets import IDX_FILES, load_dataset
from pdsgd.data.idx import write_idx
from pdsgd.errors import DataError, PdsgdError


@pytest.fixture
def server(tmp_path):
    """Serve ``tmp_path / "www"`` on 127.0.0.1; yields (base_url, folder, requested paths)."""
    www = tmp_path / "www"
    www.mkdir()
    requested = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest's output clean
            pass

        def do_GET(self):
            requested.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", www, requested
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def publish(www, n_train=20, n_test=8):
    """Write four small IDX files into ``www``; return {name: sha256}."""
    rng = np.random.default_rng(0)
    arrays = (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              np.arange(n_train, dtype=np.uint8) % 10,
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              np.arange(n_test, dtype=np.uint8) % 10)
    for name, array in zip(IDX_FILES, arrays, strict=True):
        write_idx(www / name, array)
    return {name: hashlib.sha256((www / name).read_bytes()).hexdigest() for name in IDX_FILES}


def leftovers(folder):
    """Every file in ``folder``, hidden temporary ones included."""
    return sorted(p.name for p in Path(folder).rglob("*") if p.is_file())


def test_fetch_downloads_verifies_and_loads(server, tmp_path):
    base_url, www, _ = server
    table = publish(www)
    dest = tmp_path / "data"
    paths = fetch.fetch("mnist", dest, base_url=base_url, files=table, progress=False)
    assert [p.name for p in paths] == list(IDX_FILES)
    assert leftovers(dest) == sorted(IDX_FILES)
    d = load_dataset("mnist", data_dir=dest)
    assert d.X_train.shape == (20, 784) and d.X_test.shape == (8, 784)


def test_present_files_are_not_downloaded_again(server, tmp_path):
    base_url, www, requested = server
    table = publish(www)
    dest = tmp_path / "data"
    fetch.fetch("mnist", dest, base_url=base_url, files=table, progress=False)
    assert len(requested) == 4
    fetch.fetch("mnist", dest, base_url=base_url, files=table, progress=False)
    assert len(requested) == 4
    # A damaged local copy is replaced, and only that one.
    (dest / IDX_FILES[1]).write_bytes(b"garbage")
    fetch.fetch("mnist", dest, base_url=base_url, files=table, progress=False)
    assert requested[4:] == ["/" + IDX_FILES[1]]
    assert fetch.sha256_of(dest / IDX_FILES[1]) == table[IDX_FILES[1]]


def test_checksum_mismatch_is_refused_and_leaves_nothing(server, tmp_path):
    base_url, www, _ = server
    table = publish(www)
    (www / IDX_FILES[0]).write_bytes(b"\x1f\x8b not what the table says")
    dest = tmp_path / "data"
    with pytest.raises(DataError) as info:
        fetch.fetch("mnist", dest, base_url=base_url, files=table, progress=False)
    message = str(info.value)
    assert message.startswith(f"checksum mismatch for {IDX_FILES[0]} from {base_url}")
    assert table[IDX_FILES[0]] in message and "--base-url" in message and "\n" not in message
    assert leftovers(dest) == []


def test_missing_file_on_server_is_an_http_error(server, tmp_path):
    base_url, www, _ = server
    table = publish(www)
    (www / IDX_FILES[3]).unlink()
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="HTTP 404"):
        fetch.fetch("mnist", dest, base_url=base_url, files=table, progress=False)
    assert IDX_FILES[3] not in leftovers(dest)
    assert not [name for name in leftovers(dest) if name.endswith(".part")]


def test_unreachable_server_leaves_nothing(tmp_path):
    with socket.socket() as sock:  # a port that was free a moment ago and is now closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="could not download http://127.0.0.1") as info:
        fetch.fetch("mnist", dest, base_url=f"http://127.0.0.1:{port}", timeout=5,
                    files={IDX_FILES[0]: "0" * 64}, progress=False)
    assert "\n" not in str(info.value)
    assert leftovers(dest) == []


def test_every_mirror_is_tried(server, tmp_path, monkeypatch):
    base_url, www, requested = server
    table = publish(www)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    monkeypatch.setitem(fetch.MIRRORS, "mnist", (dead, base_url))
    fetch.fetch("mnist", tmp_path / "data", files=table, timeout=5, progress=False)
    assert len(requested) == 4


def test_fashion_mnist_lands_in_its_own_folder(server, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "FASHION_MNIST_SYSTEM_DIRS", ())
    base_url, www, _ = server
    table = publish(www)
    fetch.fetch("fashion-mnist", tmp_path, base_url=base_url, files=table, progress=False)
    assert leftovers(tmp_path / "fashion-mnist") == sorted(IDX_FILES)
    assert load_dataset("fashion-mnist", data_dir=tmp_path).X_train.shape == (20, 784)


def test_unknown_name():
    with pytest.raises(PdsgdError, match="cannot fetch 'mnist-5k'"):
        fetch.fetch("mnist-5k")


def test_cli_fetch_prints_one_line_per_file(server, tmp_path, capsys, monkeypatch):
    base_url, www, _ = server
    monkeypatch.setitem(fetch.FILES, "mnist", publish(www))
    args = argparse.Namespace(name="mnist", data_dir=tmp_path, base_url=base_url, quiet=True)
    assert fetch.cli_fetch(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(line.startswith("downloaded ") for line in lines)
    assert fetch.cli_fetch(args) == 0
    assert all(line.startswith("kept ") for line in capsys.readouterr().out.splitlines())


def test_checksum_tables_are_complete():
    assert set(fetch.FILES) == set(fetch.MIRRORS) == {"mnist", "fashion-mnist"}
    for table in fetch.FILES.values():
        assert list(table) == list(IDX_FILES)
        assert all(len(h) == 64 and int(h, 16) >= 0 for h in table.values())


# The official Fashion-MNIST .gz files carry their original file name and time
# in the gzip header; Debian's copies have the same compressed data with that
# header field dropped. Putting it back must give the official files exactly:
# their published MD5 and the SHA-256 in fetch.FILES.
FASHION_HEADERS = {  # file: (original name in the header, its time, published MD5)
    "train-images-idx3-ubyte.gz": ("train-images-idx3-ubyte", 1504176606,
                                   "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    "train-labels-idx1-ubyte.gz": ("train-labels-idx1-ubyte", 1504176606,
                                   "25c81989df183df01b3e8a0aad5dffbe"),
    "t10k-images-idx3-ubyte.gz": ("t10k-images-idx3-ubyte", 1504176627,
                                  "bef4ecab320f06d8554ea6380940ec79"),
    "t10k-labels-idx1-ubyte.gz": ("t10k-labels-idx1-ubyte", 1504176627,
                                  "bb300cfdad3c16e7a12a480ee83cd310"),
}


@needs_fashion_mnist
@pytest.mark.parametrize("filename", IDX_FILES)
def test_fashion_sha256_matches_debian_package(filename):
    debian = (data.FASHION_MNIST_SYSTEM_DIRS[0] / filename).read_bytes()
    assert debian[:4] == b"\x1f\x8b\x08\x00"  # gzip, deflate, no name stored
    name, mtime, md5 = FASHION_HEADERS[filename]
    # Header: magic, deflate, FNAME flag, time, extra flags, OS (3 = Unix), then the name.
    header = b"\x1f\x8b\x08\x08" + struct.pack("<I", mtime) + b"\x00\x03" + name.encode() + b"\0"
    official = header + debian[10:]
    assert hashlib.md5(official).hexdigest() == md5
    assert hashlib.sha256(official).hexdigest() == fetch.FILES["fashion-mnist"][filename]
    assert gzip.decompress(official) == gzip.decompress(debian)


@pytest.mark.parametrize("base", ["garbage", "ftp:/nowhere", "closed port"])
def test_a_bad_base_url_is_one_line_and_leaves_no_folder(tmp_path, capsys, base):
    from pdsgd.cli import main

    if base == "closed port":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    dest = tmp_path / "new" / "data"
    assert main(["data", "fetch", "mnist", "--base-url", base, "--data-dir", str(dest),
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--base-url" in err, err
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its parent
