"""pareto.png shows every scored candidate: inside the axes and not under the legend, even one far below the rest."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
from matplotlib.backend_bases import RendererBase  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from detnas.search.report import plot_front  # noqa: E402
from detnas.search.store import Store  # noqa: E402

# (origin, score, latency ms): three seeds and a mutation close together, and a slow mutation far below them, in the
# lower-right corner where the figure's legend used to sit (and near the edge autoscaling left).
POINTS = [
    ("seed:yolo11n", 0.254, 100.0),
    ("seed:yolov8n", 0.267, 120.0),
    ("seed:yolov5nu", 0.249, 90.0),
    ("mutation", 0.260, 95.0),
    ("mutation", 0.212, 200.0),
]
MARKER_PX = 6.0  # more than the radius of the largest marker at the figure's 120 dpi, stars aside


def _store(path: Path, points: list[tuple[str, float, float]]) -> Store:
    store = Store(path)
    store.set_meta("config", {"strategy": "evolution", "proxy": "pretrained", "recipe": {"imgsz": 320}})
    for i, (origin, score, latency) in enumerate(points):
        genome_id = f"{i:012x}"
        store.add_candidate(genome_id=genome_id, genome_json="{}", yaml="", origin=origin, parents=(), state={})
        store.finish(genome_id, status="done", evaluation=None, map=score, score=score, latency_ms=latency)
    return store


@pytest.fixture
def saved_figures(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Figure, RendererBase]]:
    """The figures plot_front saves, with the renderer that drew them, kept for inspection after it closes them."""
    figures: list[tuple[Figure, RendererBase]] = []
    savefig = Figure.savefig

    def keep(self: Figure, *args, **kwargs):
        result = savefig(self, *args, **kwargs)
        figures.append((self, self.canvas.get_renderer()))
        return result

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


@pytest.mark.parametrize("points", [POINTS, [(o, s, -lat + 300.0) for o, s, lat in POINTS]], ids=["slow", "fast"])
def test_every_candidate_is_drawn(
    tmp_path: Path, saved_figures: list[tuple[Figure, RendererBase]], points: list[tuple[str, float, float]]
) -> None:
    path = plot_front(_store(tmp_path / "search.sqlite", points), tmp_path / "pareto.png")
    assert path.is_file() and len(saved_figures) == 1
    figure, renderer = saved_figures[0]
    ax = figure.axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    area = ax.get_window_extent(renderer)
    legend = ax.get_legend().get_window_extent(renderer)
    for origin, score, latency in points:
        assert x0 < latency < x1 and y0 < score < y1, f"{origin} ({latency} ms, {score}) outside the axis limits"
        px, py = ax.transData.transform((latency, score))
        inside = area.x0 + MARKER_PX <= px <= area.x1 - MARKER_PX and area.y0 + MARKER_PX <= py <= area.y1 - MARKER_PX
        assert inside, f"{origin} ({latency} ms, {score}) clipped at the edge of the axes"
        near = legend.padded(MARKER_PX)
        covered = near.x0 <= px <= near.x1 and near.y0 <= py <= near.y1
        assert not covered, f"{origin} ({latency} ms, {score}) hidden under the legend"


def test_one_candidate_gets_a_range(tmp_path: Path, saved_figures: list[tuple[Figure, RendererBase]]) -> None:
    plot_front(_store(tmp_path / "search.sqlite", POINTS[:1]), tmp_path / "pareto.png")
    ax = saved_figures[0][0].axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 < POINTS[0][2] < x1 and y0 < POINTS[0][1] < y1
