"""``detnas predict``: detect objects in images with any model."""

from __future__ import annotations

import sys

from detnas.cli.common import check_weights_dir, device, existing_folder, parse_imgsz, unit_interval
from detnas.deploy.predict import predict


def add_parser(subparsers) -> None:
    """``detnas predict``: register the sub-command on an argparse sub-parsers object."""
    p = subparsers.add_parser(
        "predict",
        help="detect objects in images with any model; annotated images plus detections JSON/CSV",
        description="Run MODEL (a found design's .pt, a YOLO .pt/.tflite, a YOLO-NAS .pt, or a name such as yolo11n) "
        "on images and folders; write annotated images and detections.json / detections.csv into --out. Every image "
        "is decoded in full first: one that cannot be read (truncated, corrupt, not an image) is named in an 'error:' "
        "line and skipped, and the others are still predicted. Exit status: 0 every image predicted; 1 some images "
        "could not be read (listed under 'failed' in detections.json); 2 bad input (no readable image, a bad model "
        "or option; nothing written).",
    )
    p.add_argument("model", metavar="MODEL", help="weights path or model name")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="image files or folders")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--conf", type=unit_interval, default=0.25, help="confidence threshold, 0 to 1 (default 0.25)")
    p.add_argument("--iou", type=unit_interval, default=0.7, help="NMS IoU threshold, 0 to 1 (default 0.7)")
    p.add_argument(
        "--imgsz",
        type=parse_imgsz,
        default=None,
        help="inference size, a multiple of 32 (default: a detnas design's searched size, else 640; fixed-size "
        "exports (TFLite) run at theirs and refuse another)",
    )
    p.add_argument("--device", type=device, default="cpu", help="cpu, 0, cuda:0 ... (default cpu)")
    p.add_argument(
        "--weights-dir",
        type=existing_folder,
        metavar="DIR",
        help="folder of named weights, for a MODEL given by name (default $DETNAS_WEIGHTS, then Ultralytics' "
        "weights_dir)",
    )
    p.set_defaults(func=_predict_command)


def _predict_command(args) -> int:
    check_weights_dir(args.weights_dir, [args.model])
    result = predict(
        args.model,
        args.sources,
        out=args.out,
        conf=args.conf,
        iou=args.iou,
        imgsz=args.imgsz,
        device=args.device,
        weights_dir=args.weights_dir,
    )
    unread = f", {len(result.failed)} could not be read" if result.failed else ""
    print(
        f"{len(result.detections)} detections in {len(result.annotated)} images{unread} (imgsz {result.imgsz}): "
        f"{result.json_path}, {result.csv_path}, annotated images in {result.json_path.parent / 'images'}"
    )
    for failed in result.failed:  # after the summary, so that the errors end the output
        print(
            f"error: {failed.image}: {failed.reason}; replace or remove it (the other images were predicted)",
            file=sys.stderr,
        )
    return 1 if result.failed else 0
