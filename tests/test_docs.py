"""The README stays short, every link of the documentation resolves, and the book builds.

The book (``docs/``, the README and the notebooks, see ``mkdocs.yml``) is built with
``mkdocs build --strict``: a broken link or anchor, or a page left out of the navigation, fails
it. MkDocs checks the links as the site resolves them; the test below checks them as the
repository's web view does (a relative path from the file that holds the link, and an anchor
as GitHub writes a heading's), so that every link works in both places.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The Markdown files a reader of the repository opens, and whose links must resolve.
PAGES = sorted(
    [ROOT / "README.md", ROOT / "notebooks" / "README.md", ROOT / "results" / "README.md",
     ROOT / "data" / "README.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
CODE = re.compile(r"`[^`\n]*`")


def _links(text):
    """The inline link and image targets of Markdown ``text``, code left out."""
    return LINK.findall(CODE.sub("", FENCE.sub("", text)))


def _github_anchor(heading):
    """The anchor GitHub gives a heading: lower case, punctuation out, spaces to hyphens."""
    text = heading.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path):
    text = FENCE.sub("", path.read_text())
    return {_github_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def test_readme_is_what_a_newcomer_reads_in_two_minutes():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200, (
        f"README.md has {len(lines)} lines; keep it under 200 and move the rest to docs/")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves_in_the_repository(page):
    broken = []
    for target in _links(page.read_text()):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # a web address: not checked offline
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target} (no file {file.relative_to(ROOT)})")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(f"{target} (no heading #{anchor} in {file.relative_to(ROOT)})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"


def test_the_book_builds_in_strict_mode(tmp_path):
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert run.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(
        warnings or run.stderr.splitlines()[-20:])
    # Every page of docs/, the README and every notebook are in the site.
    for page in (ROOT / "docs").glob("*.md"):
        name = "" if page.stem == "index" else page.stem
        assert (site / name / "index.html").is_file(), page.name
    assert (site / "readme" / "index.html").is_file()
    for notebook in ROOT.glob("notebooks/**/[0-9]*.ipynb"):
        relative = notebook.relative_to(ROOT).with_suffix("")
        assert (site / relative / "index.html").is_file(), relative
    # Built offline, and readable offline: nothing is fetched from Google's font servers.
    for html in site.rglob("*.html"):
        assert "fonts.googleapis.com" not in html.read_text(), html.relative_to(site)
