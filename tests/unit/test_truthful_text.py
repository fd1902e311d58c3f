"""What ships says things a reader of a clone can check: no pointers to team documents or
tracker numbers that are not in the repository (FINDINGS, DESIGN §, "issue 5"), nor to the
seed papers by their file names or numbers. A measured fact is stated with its number and where
it was measured; a paper is cited by authors, title and year through docs/references.md."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("src", "launch", "config", "tools")
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}

FORBIDDEN = re.compile(
    r"FINDINGS"                      # the team's measurement notes (not in the repository)
    r"|DESIGN\s*§|DESIGN\.md"        # the team's design document
    r"|\bissue\s*#?\d"               # tracker numbers
    r"|seed[ _]00\d"                 # "seed 002", seed_000
    r"|seed papers?\b"
    r"|\b00\d_[0-9a-f]{16}\b",       # the seed files' names (000_8cf5...)
    re.IGNORECASE,
)


def _text_files() -> list[Path]:
    files = []
    for top in SCANNED:
        root = REPO / top
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and not SKIPPED_DIRS.intersection(path.relative_to(REPO).parts):
                files.append(path)
    return files


def offending_lines(text: str) -> list[tuple[int, str]]:
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)
            if FORBIDDEN.search(line)]


def test_the_patterns_catch_what_they_should_and_nothing_else() -> None:
    for bad in ("(FINDINGS)", "see DESIGN §3", "DESIGN.md", "the figures issue 5 asks for",
                "issue #4", "seed 002's feed", "seed_000", "the seed papers' data",
                "000_8cf51021ac79403d.txt"):
        assert offending_lines(bad), bad
    for fine in ("feed.seed", "--seed 7", "watershed seeds closer than this merge",
                 "Yu et al. (see docs/references.md)", "design choice", "no issue here",
                 "tissue 4"):
        assert not offending_lines(fine), fine


def test_shipped_text_cites_nothing_a_clone_lacks() -> None:
    found = []
    for path in _text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        for n, line in offending_lines(text):
            found.append(f"{path.relative_to(REPO)}:{n}: {line}")
    assert not found, (
        "state the fact (with its number and where it was measured) or cite the paper via "
        "docs/references.md instead of:\n" + "\n".join(found)
    )


def test_references_have_an_anchor_per_paper() -> None:
    text = (REPO / "docs" / "references.md").read_text(encoding="utf-8")
    anchors = re.findall(r'<a id="([a-z0-9-]+)"></a>', text)
    assert len(anchors) == len(set(anchors)) >= 3
