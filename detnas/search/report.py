"""Outputs of a search, all regenerated from its store: the Pareto front as CSV/JSON/YAML+weights, a figure, a report.

Every figure here is computed from ``search.sqlite``; ``detnas report DIR`` can rebuild it all at any time.
"""

from __future__ import annotations

import csv
import json
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detnas.search.pareto import pareto_front
from detnas.search.store import Candidate, Store

FRONT_FIELDS = (
    "genome_id",
    "proxy",
    "score",
    "map50_95",
    "map50",
    "latency_ms",
    "imgsz",
    "params",
    "gflops",
    "origin",
    "inherited",
    "yaml",
    "weights",
    "measured_latency_ms",
    "deployed",
)


@dataclass(frozen=True)
class FrontRow:
    genome_id: str
    proxy: str
    score: float
    map50_95: float | None
    map50: float | None
    latency_ms: float
    imgsz: int | None  # the design's own input size (searched as a gene), else the recipe's
    params: int | None
    gflops: float | None
    origin: str
    inherited: str | None  # "<parent> <fraction of parameters>" for candidates that inherited weights
    yaml: str
    weights: str | None
    measured_latency_ms: float | None = None  # with a latency table: latency_ms is predicted, this is measured here
    deployed: str | None = None  # "<precision> <runtime>" of a design with deploy genes: mAP and latency are its own

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FRONT_FIELDS}


def scored(store: Store) -> list[Candidate]:
    """Finished candidates with both objectives: the proxy score (higher is better) and latency."""
    return [c for c in store.candidates("done") if c.score is not None and c.latency_ms is not None]


def _inherited(candidate: Candidate) -> str | None:
    details = ((candidate.evaluation or {}).get("proxy") or {}).get("details") or {}
    if "inherited_fraction" not in details:
        return None
    return f"{details.get('parent', 'parent')} {details['inherited_fraction']:.0%}"


def _imgsz(candidate: Candidate, store: Store) -> int | None:
    """The size the candidate was scored and timed at: its gene, else the search recipe's."""
    size = json.loads(candidate.genome_json).get("imgsz")
    return size or store.get_meta("config", {}).get("recipe", {}).get("imgsz")


def _deployed(candidate: Candidate) -> str | None:
    """``"int8 openvino"`` for a design searched with deploy genes, else None."""
    genes = json.loads(candidate.genome_json)
    return f"{genes['precision']} {genes['runtime']}" if genes.get("runtime") else None


def front_candidates(store: Store) -> list[Candidate]:
    done = scored(store)
    indices = pareto_front([(c.score, c.latency_ms) for c in done])  # type: ignore[misc]
    return [done[i] for i in indices]


def proxy_name(store: Store) -> str:
    return store.get_meta("config", {}).get("proxy", "map")


def score_label(proxy: str) -> str:
    if proxy in ("map", "pretrained", "pretrained-zero"):
        return "mAP50-95 (val)" if proxy == "map" else f"mAP50-95 (val, proxy '{proxy}')"
    return f"proxy score '{proxy}' (higher is better)"


def write_outputs(folder: str | Path, store: Store) -> dict[str, Path]:
    """Write pareto.csv, pareto.json, front/<id>.yaml + .pt, pareto.png and report.md into the run folder."""
    folder = Path(folder)
    front_dir = folder / "front"
    if front_dir.exists():
        shutil.rmtree(front_dir)  # the front can shrink as better designs appear; keep only the current one
    front_dir.mkdir(parents=True)
    rows: list[FrontRow] = []
    proxy = proxy_name(store)
    measured = store.get_meta("measured_latency", {}) or {}
    for c in front_candidates(store):
        yaml_path = front_dir / f"{c.genome_id}.yaml"
        yaml_path.write_text(c.yaml)
        weights = None
        if c.weights and Path(c.weights).is_file():
            weights = front_dir / f"{c.genome_id}.pt"
            shutil.copy2(c.weights, weights)
        rows.append(
            FrontRow(
                c.genome_id,
                proxy,
                round(float(c.score or 0.0), 6),
                round(c.map, 5) if c.map is not None else None,
                c.map50,
                round(c.latency_ms or 0.0, 3),
                _imgsz(c, store),
                c.params,
                c.gflops,
                c.origin,
                _inherited(c),
                str(yaml_path),
                str(weights) if weights else None,
                measured.get(c.genome_id),
                _deployed(c),
            )
        )
    with open(folder / "pareto.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FRONT_FIELDS)
        writer.writeheader()
        writer.writerows(r.to_dict() for r in rows)
    stats = search_statistics(store)
    (folder / "pareto.json").write_text(
        json.dumps({"front": [r.to_dict() for r in rows], "statistics": stats}, indent=2) + "\n"
    )
    figure = plot_front(store, folder / "pareto.png")
    table = store.get_meta("config", {}).get("latency_table")
    mode = store.get_meta("mode")
    (folder / "report.md").write_text(markdown_report(rows, stats, figure, latency_table=table, mode=mode))
    return {
        "csv": folder / "pareto.csv",
        "json": folder / "pareto.json",
        "figure": figure,
        "report": folder / "report.md",
    }


def search_statistics(store: Store) -> dict[str, Any]:
    """Counts, wall time split into training and everything else, and the metric the figures come from."""
    counts = store.counts()
    evaluations = [c.evaluation for c in store.candidates("done", "failed") if c.evaluation]
    phases: dict[str, float] = {}
    for ev in evaluations:
        for phase, seconds in (ev.get("phase_seconds") or {}).items():
            phases[phase] = phases.get(phase, 0.0) + float(seconds)
    total_eval = sum(float(ev.get("total_seconds") or 0.0) for ev in evaluations)
    sources = sorted({(ev.get("metrics") or {}).get("metric_source") for ev in evaluations if ev.get("metrics")})
    done = store.candidates("done")
    config = store.get_meta("config", {})
    return {
        "counts": counts,
        "evaluations_budget": config.get("evaluations"),
        "strategy": config.get("strategy"),
        "seed": config.get("seed"),
        "recipe": config.get("recipe"),
        "data": config.get("data"),
        "metric_source": sources,
        "seconds": {
            "evaluations_total": round(total_eval, 2),
            "training": round(phases.get("train", 0.0), 2),
            "other": round(total_eval - phases.get("train", 0.0), 2),
            "by_phase": {k: round(v, 2) for k, v in sorted(phases.items())},
        },
        "median_latency_ms": round(statistics.median(c.latency_ms for c in done if c.latency_ms), 3) if done else None,
        "proxy": config.get("proxy", "map"),
        "best_score": max((c.score for c in done if c.score is not None), default=None),
        "best_map50_95": max((c.map for c in done if c.map is not None), default=None),
        "failures": [{"genome_id": c.genome_id, "error": c.error} for c in store.candidates("failed")],
    }


def plot_front(store: Store, path: Path) -> Path:
    """mAP against latency: every finished candidate, the Pareto front, and the seeded baselines marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def padded(values: list[float]) -> tuple[float, float]:
        """Limits holding every value with room for its marker: autoscaling left 5 % and the legend could cover it."""
        low, high = min(values), max(values)
        pad = 0.08 * (high - low) if high > low else 0.05 * abs(high) or 1.0
        return low - pad, high + pad

    done = scored(store)
    front = front_candidates(store)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    ax.scatter([c.latency_ms for c in done], [c.score for c in done], s=18, c="#9a9a9a", label="candidates")
    if front:
        ax.plot([c.latency_ms for c in front], [c.score for c in front], "-o", c="#d62728", ms=5, label="Pareto front")
    seeded = [c for c in done if c.origin.startswith("seed:")]
    for i, c in enumerate(seeded):
        label = "seeded baseline" if i == 0 else None
        ax.scatter([c.latency_ms], [c.score], marker="*", s=160, c="#1f77b4", zorder=5, label=label)
        # Names of the slowest seeds go to the left of their star, so they stay inside the axes.
        left = bool(done) and c.latency_ms > 0.5 * (min(d.latency_ms for d in done) + max(d.latency_ms for d in done))
        ax.annotate(
            c.origin[5:],
            (c.latency_ms, c.score),
            textcoords="offset points",
            xytext=(-6, 4) if left else (6, 4),
            ha="right" if left else "left",
            fontsize=8,
        )
    config = store.get_meta("config", {})
    recipe = config.get("recipe", {})
    size = "each at its own input size" if config.get("imgsizes") else f"{recipe.get('imgsz')} px"
    ax.set_xlabel(f"latency (ms, median, {config.get('latency_backend', 'torch')}, batch 1, {size})")
    ax.set_ylabel(score_label(config.get("proxy", "map")))
    ax.set_title(f"detnas {config.get('strategy', '')} search: {len(done)} trained candidates")
    if done:  # every scored candidate inside the axes, whatever the spread (one far below the rest included)
        ax.set_xlim(*padded([float(c.latency_ms) for c in done]))  # type: ignore[arg-type]
        ax.set_ylim(*padded([float(c.score) for c in done]))  # type: ignore[arg-type]
    ax.grid(alpha=0.3)
    # Beside the axes, not inside: slow, low-scoring candidates sit in the lower right, where the legend used to be.
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def markdown_report(
    rows: list[FrontRow],
    stats: dict[str, Any],
    figure: Path,
    *,
    latency_table: str | None = None,
    mode: str | None = None,
) -> str:
    counts = stats["counts"]
    secs = stats["seconds"]
    sources = ", ".join(stats["metric_source"])
    map_text = f"mAP from {sources}." if sources else "mAP not measured (only `--proxy map` validates candidates)."
    lines = [
        "# detnas search report",
        "",
        *([f"Mode: {mode}", ""] if mode else []),
        f"Data: `{stats['data']}`; strategy: {stats['strategy']}, seed {stats['seed']}; candidates scored by proxy "
        f"`{stats['proxy']}`; {map_text}",
        f"Candidates: {counts['done']} done, {counts['failed']} failed, "
        f"{counts['infeasible']} infeasible (not trained), "
        f"{counts['pending'] + counts['running']} unfinished; budget {stats['evaluations_budget']}.",
        f"Evaluation time: {secs['evaluations_total']:.0f} s, of which training {secs['training']:.0f} s and "
        f"everything else {secs['other']:.0f} s.",
        "",
        f"## Pareto front ({score_label(stats['proxy'])} up, latency down)",
        "",
    ]
    if latency_table:  # latency is predicted from the table for every candidate; the front is measured here too
        lines += [
            f"Latency predicted from table `{latency_table}`; the front measured on this machine with the table's "
            "backend, threads and clock.",
            "",
        ]
        latency_head, latency_rule = "predicted ms | measured ms | error %", "---|---|---"
    else:
        latency_head, latency_rule = "latency ms", "---"
    deployed = any(r.deployed for r in rows)  # a column only when the search searched deployment
    lines += [
        f"| id | score ({stats['proxy']}) | mAP50-95 | mAP50 | {latency_head} | size | params M | GFLOPs | origin "
        "| inherited |" + (" deployed |" if deployed else ""),
        f"|---|---|---|---|{latency_rule}|---|---|---|---|---|" + ("---|" if deployed else ""),
    ]
    for r in rows:
        params = f"{r.params / 1e6:.2f}" if r.params else "-"
        gflops = f"{r.gflops:.2f}" if r.gflops else "-"
        map50_95 = f"{r.map50_95:.4f}" if r.map50_95 is not None else "-"
        map50 = f"{r.map50:.4f}" if r.map50 is not None else "-"
        latency = f"{r.latency_ms:.1f}"
        if latency_table:
            m = r.measured_latency_ms
            latency += f" | {m:.1f} | {100 * (r.latency_ms - m) / m:+.1f}" if m else " | - | -"
        lines.append(
            f"| {r.genome_id} | {r.score:.5g} | {map50_95} | {map50} | {latency} | {r.imgsz or '-'} | {params} "
            f"| {gflops} "
            f"| {r.origin} | {r.inherited or '-'} |" + (f" {r.deployed or '-'} |" if deployed else "")
        )
    lines += ["", f"![score against latency]({figure.name})", ""]
    if stats["failures"]:
        lines += ["## Failed candidates", ""]
        lines += [f"- `{f['genome_id']}`: {f['error']}" for f in stats["failures"]]
        lines.append("")
    return "\n".join(lines)
