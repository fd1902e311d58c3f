"""The bench times the nodes' own stages (no copy of them) and stands apart from the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

from sorter.bench.stages import CORES_INSIDE, STAGES, time_pipeline
from sorter.bench.strips import render_strips
from sorter.cell.description import load_cell

BENCH = Path(__file__).resolve().parents[2] / "src" / "sorter" / "sorter" / "bench"


def test_bench_does_not_import_the_cli() -> None:
    for path in BENCH.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert "sorter.cli" not in names, f"{path.name} imports sorter.cli"


def test_stages_run_the_pipeline_on_simulated_strips() -> None:
    cell = load_cell(None)
    data = render_strips(cell, 12)
    per_row, wall, pipeline = time_pipeline(cell, data, warm=2)
    assert set(per_row) == {n for n, _ in STAGES} | {n for n, _ in CORES_INSIDE}
    assert all(len(v) == 10 for v in per_row.values()) and len(wall) == 10
    assert pipeline.particles > 0 and pipeline.rejected == 0
    assert sum(pipeline.decisions.values()) == pipeline.particles
    for row, stage in CORES_INSIDE:  # a core is part of its stage, never more
        assert sum(per_row[row]) <= sum(per_row[stage]) + 1e-9
    assert sum(per_row["  of which StripSegmenter.push"]) > 0.0
