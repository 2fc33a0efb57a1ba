"""Bring the repository's pages that live outside ``docs/`` into the site.

The README, the notebooks and the files under ``results/`` and ``data/`` stay where the
repository needs them, but MkDocs reads only ``docs/``. This hook adds them to the site at
their path in the repository (the README as ``readme.md``, beside the book's ``index.md``),
and rewrites every relative link between two files of the repository into the link between
the same two files in the site. So a link is written once, as the repository's web view
reads it (``../notebooks/03_scaling.ipynb`` from ``docs/course.md``), and works in both; a
link to a file the site does not hold is left alone, and ``mkdocs build --strict`` fails on it.
"""

import posixpath
import re
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
DOCS = "docs"
# What joins the site, as globs under the repository's root.
SOURCES = (
    "README.md",
    "notebooks/README.md",
    "notebooks/[0-9]*.ipynb",
    "notebooks/solutions/[0-9]*.ipynb",
    "notebooks/figures/*.png",
    "data/README.md",
    "results/README.md",
    "results/reference/README.md",
    "results/reference/*/REPORT.md",
    "results/reference/*/*.png",
)
# The README would be taken for the index of the site's root, which is the book's index.md.
RENAMED = {"README.md": "readme.md"}
LINK = re.compile(r"(\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")

_site_of: dict[str, str] = {}  # repository path -> site path
_repo_of: dict[str, str] = {}  # site path -> repository path


def _record(repo_path, site_path):
    _site_of[repo_path] = site_path
    _repo_of[site_path] = repo_path


@event_priority(100)  # before mkdocs-jupyter, which must see the notebooks among the files
def on_files(files, config):
    """Add the repository's files named in ``SOURCES`` to the site's files."""
    _site_of.clear()
    _repo_of.clear()
    for file in files:
        _record(posixpath.join(DOCS, file.src_uri), file.src_uri)
    for pattern in SOURCES:
        for path in sorted(ROOT.glob(pattern)):
            repo_path = path.relative_to(ROOT).as_posix()
            site_path = RENAMED.get(repo_path, repo_path)
            if site_path == repo_path:
                # A plain File: mkdocs-jupyter's wrapper of a notebook reads its src_dir.
                files.append(File(repo_path, str(ROOT), config.site_dir,
                                  config.use_directory_urls))
            else:
                files.append(File.generated(config, site_path, abs_src_path=str(path)))
            _record(repo_path, site_path)
    return files


def _rewrite(target, page_repo, page_site):
    if re.match(r"[a-z][a-z0-9+.-]*:|#|/", target):
        return target  # a web address, an anchor in the page, or an absolute path
    path, hash_, anchor = target.partition("#")
    repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(page_repo), path))
    if repo_path not in _site_of:
        return target
    site_path = posixpath.relpath(_site_of[repo_path], posixpath.dirname(page_site) or ".")
    return site_path + hash_ + anchor


def on_page_markdown(markdown, page, config, files):
    """Point the page's links to repository files at those files in the site."""
    page_site = page.file.src_uri
    page_repo = _repo_of.get(page_site, posixpath.join(DOCS, page_site))
    return LINK.sub(
        lambda m: m[1] + _rewrite(m[2], page_repo, page_site) + m[3], markdown)
