"""Every relative link of the project's Markdown pages lands on a file, and on a heading
when it names one (GitHub's anchors), so that moving a page or a section breaks a test.

Links to the web (http, https, mailto) and to an anchor of the same page are not checked.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[2]
_FENCED = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def markdown_files() -> list[Path]:
    """The Markdown pages git tracks, and new ones it does not ignore (.venv, .state)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return sorted({ROOT / name for name in listed if (ROOT / name).is_file()})


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but '-' and '_' dropped,
    spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """The anchors a page's headings make (a repeated one gets -1, -2, ... as on GitHub)."""
    made: Counter[str] = Counter()
    found = set()
    for heading in _HEADING.findall(_FENCED.sub("", markdown)):
        base = slug(heading)
        found.add(f"{base}-{made[base]}" if made[base] else base)
        made[base] += 1
    return found


def links(markdown: str) -> list[str]:
    """The targets of a page's inline links, outside code blocks and code spans."""
    return _LINK.findall(_CODE_SPAN.sub("", _FENCED.sub("", markdown)))


def problem(page: Path, target: str) -> str | None:
    """Why a link of the page lands nowhere, or None if it lands (or is not ours to check)."""
    if target.startswith("#") or _SCHEME.match(target):
        return None
    path, _, anchor = target.partition("#")
    landing = (ROOT / path.lstrip("/")) if path.startswith("/") else page.parent / unquote(path)
    if not landing.exists():
        return "no such file or directory"
    if anchor and landing.suffix == ".md" and anchor not in anchors(landing.read_text()):
        return f"no heading makes #{anchor}"
    return None


def broken_links(page: Path) -> list[str]:
    """`target: why` for each relative link of the page that lands nowhere."""
    found = ((target, problem(page, target)) for target in links(page.read_text()))
    return [f"{target}: {why}" for target, why in found if why]


def test_every_relative_link_lands() -> None:
    pages = markdown_files()
    assert ROOT / "README.md" in pages
    broken = [f"{page.relative_to(ROOT)}: {link}" for page in pages for link in broken_links(page)]
    assert not broken, "broken links in the Markdown pages:\n" + "\n".join(broken)


def test_a_missing_file_and_a_missing_heading_are_reported(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## The command log's retention\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[gone](missing.md) and [nowhere](other.md#no-such-heading)\n"
        "[fine](other.md#the-command-logs-retention) [folder](.) [web](https://example.org)\n"
        "[here](#anything) `[in code](missing-too.md)`\n"
        "```\n[in a block](missing-as-well.md)\n```\n")
    assert broken_links(page) == ["missing.md: no such file or directory",
                                  "other.md#no-such-heading: no heading makes #no-such-heading"]


def test_anchors_are_githubs() -> None:
    assert slug("The REST gateway (`make bench-gateway`)") == "the-rest-gateway-make-bench-gateway"
    assert slug("Chaos: many commands, many faults, one checker") == (
        "chaos-many-commands-many-faults-one-checker")
    page = "# Notes\n\n## Notes\n\n```sh\n# not a heading\n```\n"
    assert anchors(page) == {"notes", "notes-1"}
