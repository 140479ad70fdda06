"""``detnas predict``: detect objects in images with any model."""

from __future__ import annotations

from detnas.deploy.predict import predict


def add_parser(subparsers) -> None:
    """``detnas predict``: register the sub-command on an argparse sub-parsers object."""
    p = subparsers.add_parser(
        "predict",
        help="detect objects in images with any model; annotated images plus detections JSON/CSV",
        description="Run MODEL (a found design's .pt, a YOLO .pt/.tflite, a YOLO-NAS .pt, or a name such as yolo11n) "
        "on images and folders; write annotated images and detections.json / detections.csv into --out.",
    )
    p.add_argument("model", metavar="MODEL", help="weights path or model name")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="image files or folders")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--conf", type=float, default=0.25, help="confidence threshold (default 0.25)")
    p.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold (default 0.7)")
    p.add_argument(
        "--imgsz",
        type=int,
        default=None,
        help="inference size (default: a detnas design's searched size, else 640; fixed-size exports: theirs)",
    )
    p.add_argument("--device", default="cpu", help="cpu, 0, ... (default cpu)")
    p.add_argument(
        "--weights-dir",
        metavar="DIR",
        help="folder of named weights (default $DETNAS_WEIGHTS, then Ultralytics' weights_dir)",
    )
    p.set_defaults(func=_predict_command)


def _predict_command(args) -> int:
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
    print(
        f"{len(result.detections)} detections in {len(result.annotated)} images (imgsz {result.imgsz}): "
        f"{result.json_path}, {result.csv_path}, annotated images in {result.json_path.parent / 'images'}"
    )
    return 0
