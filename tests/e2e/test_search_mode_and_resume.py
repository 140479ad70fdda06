"""A real search states its resolved mode, stores it for report.md, and a resume takes a larger budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from detnas.search.loop import STORE_NAME
from detnas.search.store import Store
from tests.helpers import detnas, shared_checkpoint


@pytest.mark.slow
def test_mode_line_report_and_resume_with_a_larger_budget(coco8: Path, tmp_path: Path) -> None:
    parent = shared_checkpoint("yolo11n.pt")
    out = tmp_path / "run"
    first = detnas(
        "search", "--out", str(out), "--data", str(coco8), "--proxy", "pretrained-zero", "--parent", str(parent),
        "--seeds", "yolo11n", "--sizes", "320", "--evaluations", "1", "--population", "2", timeout=1200,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr[-2000:]
    mode = first.stderr.splitlines()[0]
    assert mode.startswith("mode: inherits from yolo11n.pt | proxy pretrained-zero | space anchored | sizes 320 px")
    assert "data coco8.yaml" in mode and "seeds yolo11n" in mode and "evolution x 1" in mode
    assert f"Mode: {mode.removeprefix('mode: ')}" in (out / "report.md").read_text()

    again = detnas("search", "--resume", str(out), "--evaluations", "2", timeout=1200)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "budget now 2 evaluations" in again.stderr
    store = Store(out / STORE_NAME)
    assert store.counts()["done"] == 2
    assert store.get_meta("config")["evaluations"] == 2
    assert "evolution x 2" in store.get_meta("mode")
