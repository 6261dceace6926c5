"""The map in docs/reliability.md cannot rot: every row of the targets is there, every test it
names exists, and every fault test is named in it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
ROWS = range(1, 21)  # ../shared/docs/reliability.md, rows 1-20
TEST_ID = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def map_rows() -> dict[int, str]:
    """The table under "## The map": row number -> the whole table line."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n## The map\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[int, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells and cells[0].isdigit():
            number = int(cells[0])
            assert number not in rows, f"row {number} appears twice"
            rows[number] = line
    return rows


def defined_tests(path: Path) -> set[str]:
    """Names of the test functions defined at the top level of a test file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def test_every_row_is_mapped_to_tests_that_exist() -> None:
    """The map's own check: each of rows 1-20 appears once, names at least one test, and every
    ``path::name`` it names is a test function defined in that file."""
    rows = map_rows()
    assert sorted(rows) == list(ROWS), f"rows missing or extra: {sorted(set(ROWS) ^ set(rows))}"
    missing: list[str] = []
    for number, line in rows.items():
        named = TEST_ID.findall(line)
        assert named, f"row {number} names no test"
        for rel, name in named:
            path = ROOT / rel
            if not path.is_file() or name not in defined_tests(path):
                missing.append(f"row {number}: {rel}::{name}")
    assert not missing, "named in docs/reliability.md but not found:\n" + "\n".join(missing)


def test_every_fault_test_is_in_the_map() -> None:
    """A test added to tests/faults/ must say, in the map, which row it proves."""
    named = {
        f"{rel}::{name}" for line in map_rows().values() for rel, name in TEST_ID.findall(line)
    }
    here = Path(__file__).resolve()
    unmapped = [
        f"{path.relative_to(ROOT)}::{name}"
        for path in sorted(here.parent.glob("test_*.py"))
        if path != here
        for name in sorted(defined_tests(path))
        if f"{path.relative_to(ROOT)}::{name}" not in named
    ]
    assert not unmapped, "fault tests missing from docs/reliability.md:\n" + "\n".join(unmapped)
