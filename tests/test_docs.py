"""The documentation holds together: every relative link in README.md and docs/*.md leads to a
file that exists and, with a ``#fragment``, to a heading of that Markdown file (GitHub's slugs).
The README stays a front page: at most :data:`README_MAX_LINES` lines."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_MAX_LINES = 300

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_INLINE_CODE = re.compile(r"(`+).*?\1")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_HTML_ANCHOR = re.compile(r"<a\s+[^>]*(?:name|id)=\"([^\"]+)\"", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def documents() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def _prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of everything outside fenced code blocks."""
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        opened = _FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)[0] * len(opened.group(1))
            continue
        if fence is not None:
            if line.strip().startswith(fence) and set(line.strip()) <= {fence[0]}:
                fence = None
            continue
        yield number, line


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: the rendered text in lower case, punctuation removed
    (letters, digits, ``_``, ``-`` and spaces kept), spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every ``#fragment`` a link may use into ``path``: heading slugs (a repeated heading gets
    ``-1``, ``-2``, ... as on GitHub) and explicit HTML anchors."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in _prose_lines(path.read_text(encoding="utf-8")):
        found.update(_HTML_ANCHOR.findall(line))
        heading = _HEADING.match(line)
        if heading is None:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, target) of every link and image outside code; a link's text may span lines."""
    text = path.read_text(encoding="utf-8")
    prose = [""] * len(text.splitlines())
    for number, line in _prose_lines(text):
        reference = _REFERENCE.match(line)
        if reference:
            yield number, reference.group(1)
        else:
            prose[number - 1] = _INLINE_CODE.sub("", line)
    joined = "\n".join(prose)
    for match in _LINK.finditer(joined):
        yield joined.count("\n", 0, match.start()) + 1, match.group(1)


def broken_links(path: Path) -> list[str]:
    """``file:line: target (why)`` for every relative link of ``path`` that leads nowhere."""
    problems: list[str] = []
    where = path.relative_to(ROOT)
    for number, target in links(path):
        if not target or _SCHEME.match(target) or target.startswith("//"):
            continue  # an absolute URL: not this repository's to check
        file_part, _, fragment = target.partition("#")
        destination = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not destination.exists():
            problems.append(f"{where}:{number}: {target} (no such file)")
        elif not destination.is_relative_to(ROOT):
            problems.append(f"{where}:{number}: {target} (outside the repository)")
        elif fragment and destination.suffix == ".md" and unquote(fragment) not in anchors(destination):
            problems.append(f"{where}:{number}: {target} (no heading #{fragment})")
    return problems


def test_there_is_documentation() -> None:
    assert README.exists()
    assert len(documents()) > 1, "docs/*.md is missing"


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(path: Path) -> None:
    problems = broken_links(path)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_readme_is_a_front_page() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; at most {README_MAX_LINES}"


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Quick start", "quick-start"),
        ("Example: an RQ worker", "example-an-rq-worker"),
        ("`check`: validate once", "check-validate-once"),
        ("The `redis_list` source", "the-redis_list-source"),
        ("Celery (Redis, RabbitMQ / CloudAMQP)", "celery-redis-rabbitmq--cloudamqp"),
        ("[Linked](other.md) heading", "linked-heading"),
    ],
)
def test_slugs_follow_github(heading: str, expected: str) -> None:
    assert expected == slug(heading)


def test_a_broken_link_and_a_missing_anchor_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Title\n\n## Same\n\n## Same\n", encoding="utf-8")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/a.md#title) [dup](docs/a.md#same-1) [self](#top)\n"
        "# Top\n"
        "[gone](docs/b.md) [bad](docs/a.md#nope) [web](https://example.com/x)\n"
        "```\n[in code](missing.md)\n```\n"
        "`[inline](missing.md)`\n"
        "[a link over\ntwo lines](docs/a.md#gone)\n",
        encoding="utf-8",
    )
    assert [
        "README.md:3: docs/b.md (no such file)",
        "README.md:3: docs/a.md#nope (no heading #nope)",
        "README.md:8: docs/a.md#gone (no heading #gone)",
    ] == broken_links(page)
