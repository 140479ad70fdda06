"""Does keeping a layer group in float move the INT8 front? ONNX Runtime static INT8 of one checkpoint with each named
group kept float in turn, beside its FP32 model and detnas's OpenVINO INT8, in one run.

Protocol: the checkpoint (default the shared YOLO11n) at ``--imgsz`` (default 640); ONNX Runtime static QDQ as
``detnas.evaluate.deployed`` makes it (per-channel INT8 weights, UINT8 activations, MinMax on 64 train images of
coco_proxy drawn with seed 0, box decoding always float), once with nothing else float and once per group of
``detnas.evaluate.deployed.FLOAT_GROUPS`` (stem, stages, tail, neck, head branches) kept float; pycocotools mAP50-95
on the 159-image held-out half of coco_proxy val (``split_val``, seed 0); latency batch 1, 1 thread, thread CPU clock,
two sessions per artifact, 10 warm-up runs, 60 interleaved rounds, median and IQR, repeat agreement
(``detnas.benchmark.frontier.time_rows``).

A group moves the front when its INT8 row gains mAP over the decode-only INT8 at less latency than the next better
artifact: the result lists, per group, the mAP gained and the latency paid, and which rows are on the front.

Usage:  python benchmarks/int8_float_groups.py [--checkpoint yolo11n] [--imgsz 640] [--out runs/int8_float_groups]
Rows are cached in OUT/rows/ (a rerun resumes). Writes benchmarks/results/int8_float_groups.{json,csv,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")

from detnas.benchmark.frontier import FrontierProtocol, time_rows  # noqa: E402
from detnas.benchmark.tables import write_table  # noqa: E402
from detnas.datasets import dataset_yaml, split_val  # noqa: E402
from detnas.errors import InputError  # noqa: E402
from detnas.evaluate.deployed import (  # noqa: E402
    CALIBRATION_COUNT,
    CALIBRATION_SEED,
    FLOAT_GROUPS,
    export_deployable,
    validate_deployed,
)
from detnas.evaluate.environment import environment_info, package_versions  # noqa: E402
from detnas.models import default_parents  # noqa: E402
from detnas.search.pareto import non_dominated_ranks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "int8_float_groups.json"
FIELDS = ("name", "runtime", "precision", "float_groups", "float_nodes", "imgsz", "map50_95", "map50", "latency_ms",
          "latency_spread_ms", "map_gain", "latency_paid_ms", "on_front")  # fmt: skip


def plans(weights: Path, imgsz: int) -> list[dict]:
    model = weights.stem
    base = dict(model=model, imgsz=imgsz, weights=str(weights), variant="float-groups", kind="baseline")
    rows = [
        dict(base, name=f"{model} ORT FP32", runtime="onnxruntime", precision="fp32", float_groups=[]),
        dict(base, name=f"{model} OV INT8", runtime="openvino", precision="int8", float_groups=[]),
        dict(base, name=f"{model} ORT INT8 (decode float)", runtime="onnxruntime", precision="int8", float_groups=[]),
    ]
    for group in FLOAT_GROUPS:
        rows.append(dict(base, name=f"{model} ORT INT8 + {group} float", runtime="onnxruntime", precision="int8",
                         float_groups=[group]))  # fmt: skip
    return rows


def slug(plan: dict) -> str:
    return "_".join([plan["runtime"], plan["precision"], *plan["float_groups"]])


def score(plan: dict, heldout, coco, calibration_data: Path, out: Path) -> dict:
    started = time.perf_counter()
    work = out / "artifacts" / slug(plan)
    deployed = export_deployable(
        plan["weights"], runtime=plan["runtime"], precision=plan["precision"], imgsz=plan["imgsz"], out=work,
        data=calibration_data if plan["precision"] == "int8" else None, count=CALIBRATION_COUNT, seed=CALIBRATION_SEED,
        float_groups=tuple(plan["float_groups"]),
    )  # fmt: skip
    metrics = validate_deployed(
        deployed.path, heldout.yaml_path, imgsz=plan["imgsz"], save_dir=work / "val", names=heldout.names,
        val_images=heldout.val_images, coco_annotations=coco,
    )  # fmt: skip
    record = json.loads(deployed.record.read_text())
    return dict(plan, artifact=str(deployed.path), deploy_record=str(deployed.record),
                float_nodes=record.get("quantization", {}).get("float_nodes"), map50_95=metrics.map50_95,
                map50=metrics.map50, metric_source=metrics.metric_source,
                score_seconds=round(time.perf_counter() - started, 1))  # fmt: skip


def verdict(rows: list[dict]) -> None:
    """Per row: mAP gained and latency paid against the decode-only ORT INT8, and whether it is on the front."""
    base = next(r for r in rows if r["runtime"] == "onnxruntime" and r["precision"] == "int8" and not r["float_groups"])
    ranks = non_dominated_ranks([(r["map50_95"], r["latency_ms"]) for r in rows])
    for row, rank in zip(rows, ranks, strict=True):
        row.update(map_gain=round(row["map50_95"] - base["map50_95"], 4),
                   latency_paid_ms=round(row["latency_ms"] - base["latency_ms"], 3), on_front=rank == 0)  # fmt: skip


def plot(rows: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for r in rows:
        color = "tab:green" if r["on_front"] else "tab:grey"
        ax.plot(r["latency_ms"], r["map50_95"], "o", color=color)
        ax.annotate(r["name"].split(" ", 1)[1], (r["latency_ms"], r["map50_95"]), textcoords="offset points",
                    xytext=(4, 3), fontsize=7)  # fmt: skip
    ax.set_xlabel("latency ms (batch 1, 1 thread, thread CPU clock, median of interleaved runs)")
    ax.set_ylabel("mAP50-95, coco_proxy held-out half (pycocotools)")
    ax.set_title(f"INT8 with one layer group kept float: {rows[0]['model']} @{rows[0]['imgsz']} (green: on the front)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default="yolo11n", help="a shared checkpoint by name (default yolo11n)")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--rounds", type=int, default=60, help="interleaved timing rounds (default 60)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "int8_float_groups")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    found = {p.stem: p for p in default_parents()}
    if args.checkpoint not in found:
        print(f"error: checkpoint {args.checkpoint} not found (../shared/weights/pt, $DETNAS_WEIGHTS)", file=sys.stderr)
        return 2
    if args.imgsz < 32 or args.imgsz % 32:
        print(f"error: --imgsz must be a positive multiple of 32, got {args.imgsz}", file=sys.stderr)
        return 2
    from detnas.evaluate.data import find_coco_annotations, load_data_yaml

    proxy = dataset_yaml("coco_proxy")
    _, heldout_yaml = split_val(proxy, args.out / "data", seed=0)
    heldout = load_data_yaml(heldout_yaml)
    coco = find_coco_annotations(heldout.val_images)
    rows = []
    for plan in plans(found[args.checkpoint], args.imgsz):
        path = args.out / "rows" / f"{slug(plan)}.json"
        cached = json.loads(path.read_text()) if path.is_file() else None
        if cached and Path(cached["artifact"]).exists():
            rows.append(cached)
            continue
        try:
            row = score(plan, heldout, coco, proxy, args.out)
        except InputError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(row, indent=1))
        print(f"  {row['name']}: mAP50-95 {row['map50_95']:.4f} ({row['score_seconds']:.0f} s)", flush=True)
        rows.append(row)
    protocol = FrontierProtocol(threads=1, rounds=args.rounds)
    agreement = time_rows(rows, protocol, args.out, log=lambda text: print(text, flush=True))
    verdict(rows)
    payload = {
        "protocol": protocol.to_dict() | {"recipe": None, "repeat_agreement": agreement,
                                          "calibration": {"images": CALIBRATION_COUNT, "seed": CALIBRATION_SEED,
                                                          "split": "train", "data": str(proxy)}},
        "data": {"heldout": str(heldout_yaml), "split": {"source": "coco_proxy val", "seed": 0, "heldout": 159}},
        "machine": environment_info() | {"runtime_versions": package_versions(("onnxruntime", "onnx", "openvino"))},
        "checkpoint": args.checkpoint,
        "float_groups": {"groups": list(FLOAT_GROUPS), "always_float": "Detect box decoding"},
        "rows": rows,
    }  # fmt: skip
    paths = write_table(args.results.with_suffix(""), payload, rows, FIELDS, plot=lambda p: plot(rows, p))
    print("| artifact | float nodes | mAP50-95 | gain | latency ms (IQR) | paid ms | front |")
    print("|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: r["latency_ms"]):
        print(f"| {r['name']} | {r.get('float_nodes') or '-'} | {r['map50_95']:.4f} | {r['map_gain']:+.4f} | "
              f"{r['latency_ms']:.1f} ({r['latency_spread_ms']:.1f}) | {r['latency_paid_ms']:+.1f} | "
              f"{'yes' if r['on_front'] else ''} |")  # fmt: skip
    print(f"repeat agreement {agreement:.1%}; wrote", ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
