"""The one writer of benchmark result tables: ``STEM.json``, ``STEM.csv``, ``STEM.png`` and ``STEM.md`` side by side.

``detnas benchmark`` (``compare``) and the accuracy-latency frontier (``frontier``) both publish a table of rows; they
differ in their rows and their picture, not in how files are laid out, so both write through :func:`write_table`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from detnas.evaluate.record import non_finite_to_none


def write_table(
    stem: Path,
    payload: dict[str, Any],
    csv_rows: Sequence[dict[str, Any]],
    fields: Sequence[str],
    *,
    plot: Callable[[Path], Path],
    markdown: str | None = None,
) -> dict[str, Path]:
    """Write ``payload`` as JSON, ``csv_rows`` (columns ``fields``, extra keys ignored) as CSV, the figure that
    ``plot(path)`` draws as PNG and, when given, ``markdown``; returns the paths by suffix."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = {"json": stem.with_suffix(".json"), "csv": stem.with_suffix(".csv"), "png": stem.with_suffix(".png")}
    paths["json"].write_text(json.dumps(non_finite_to_none(payload), indent=1, default=str) + "\n")
    with paths["csv"].open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fields), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(csv_rows)
    paths["png"] = plot(paths["png"])
    if markdown is not None:
        paths["md"] = stem.with_suffix(".md")
        paths["md"].write_text(markdown)
    return paths
