"""``detnas train`` and ``detnas export``: full training and export of any found design."""

from __future__ import annotations

from pathlib import Path

from detnas.cli.common import (
    check_weights_dir,
    device,
    existing_folder,
    non_negative_int,
    parse_imgsz,
    positive_int,
)
from detnas.deploy.train_export import DEFAULT_PROJECT, distill_train, export, starting_weights, train


def add_train_parser(subparsers) -> None:
    """``detnas train``: register the sub-command on an argparse sub-parsers object."""
    p = subparsers.add_parser(
        "train",
        help="full training of a found design (or any Ultralytics YAML / YOLO .pt) with Ultralytics' trainer",
        description="Train ARCH (a found design's front/<id>.yaml, any model YAML, or a YOLO .pt to fine-tune) with "
        "Ultralytics' trainer; the run lands in PROJECT/NAME as Ultralytics lays it out (weights/best.pt, ...).",
    )
    p.add_argument("arch", metavar="ARCH", help="model YAML, .pt checkpoint, or name")
    p.add_argument("--data", required=True, help="Ultralytics data YAML")
    p.add_argument("--epochs", type=positive_int, required=True, help="training epochs, >= 1")
    p.add_argument(
        "--imgsz",
        type=parse_imgsz,
        default=None,
        help="image size, a multiple of 32 (default: a detnas design's searched size, else 640)",
    )
    p.add_argument("--batch", type=positive_int, default=16, help="batch size, >= 1 (default 16)")
    p.add_argument("--device", type=device, default="cpu", help="cpu, 0, 0,1, cuda:0 ... (default cpu)")
    p.add_argument("--project", default=DEFAULT_PROJECT, help=f"runs folder (default {DEFAULT_PROJECT})")
    p.add_argument("--name", default="train", help="run name inside --project (default train; incremented if taken)")
    p.add_argument("--exist-ok", action="store_true", help="reuse PROJECT/NAME instead of incrementing the name")
    p.add_argument(
        "--workers", type=non_negative_int, default=None, help="dataloader workers, >= 0 (default: Ultralytics')"
    )
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument(
        "--weights-dir", type=existing_folder, metavar="DIR", help="folder of named weights, for an ARCH given by name"
    )
    p.add_argument(
        "--scratch",
        action="store_true",
        help="a front/<id>.yaml with its <id>.pt beside it starts from those inherited weights unless this is given",
    )
    p.add_argument(
        "--teacher",
        metavar="PARENT.pt",
        help="distil from this checkpoint (the design's parent): its class and box outputs become targets "
        "(detnas.evaluate.distill); ARCH must then be a .pt",
    )
    p.add_argument(
        "--label-weight",
        type=float,
        default=None,
        help="with --teacher: weight of the labels' detection loss beside distillation (default 1; 0: unlabelled "
        "images)",
    )
    p.set_defaults(func=_train_command)


def _train_command(args) -> int:
    check_weights_dir(args.weights_dir, [args.arch])
    arch = args.arch
    weights = starting_weights(arch, scratch=args.scratch)
    if weights is not None:
        print(f"starting from {weights} (the search's inherited, fine-tuned weights; --scratch to start fresh)")
        arch = str(weights)
    elif args.scratch and not str(arch).lower().endswith((".yaml", ".yml")):
        raise ValueError(f"--scratch applies to a model YAML, not {arch}: pass front/<id>.yaml to train from scratch")
    if args.label_weight is not None and args.teacher is None:
        raise ValueError("--label-weight applies only with --teacher: pass the parent checkpoint to distil from")
    run = {
        "data": args.data,
        "epochs": args.epochs,
        "imgsz": args.imgsz,
        "batch": args.batch,
        "device": args.device,
        "project": args.project,
        "name": args.name,
        "exist_ok": args.exist_ok,
        "seed": args.seed,
    }
    if args.teacher is not None:
        for option in ("workers", "weights_dir"):
            if getattr(args, option) is not None:
                raise ValueError(f"--{option.replace('_', '-')} does not apply with --teacher: drop it")
        label_weight = 1.0 if args.label_weight is None else args.label_weight
        result = distill_train(arch, teacher=args.teacher, label_weight=label_weight, **run)
        score = result.metrics.get("metrics/mAP50-95(B)")
        print(f"distilled: {result.save_dir} (last {result.last}); mAP50-95 on --data's val: {score}")
        return 0
    result = train(arch, workers=args.workers, weights_dir=args.weights_dir, **run)
    print(f"trained: {result.save_dir} (best {result.best}, last {result.last})")
    return 0


def add_export_parser(subparsers) -> None:
    """``detnas export``: register the sub-command on an argparse sub-parsers object."""
    p = subparsers.add_parser(
        "export",
        help="export a model with Ultralytics (default ONNX), or as a deployable (--runtime, --precision)",
        description="Export MODEL (.pt path or name) with Ultralytics' exporter; the file is written beside it. With "
        "--runtime (onnxruntime, openvino) and --precision (fp32, int8), write the deployable instead: ONNX Runtime "
        "FP32 or static QDQ INT8, OpenVINO FP32 IR or INT8 (NNCF), with deploy.json (INT8: the calibration record: "
        "data, seed, count, images) beside it, into --out (default <stem>_<runtime>_<precision>_<imgsz>/ beside "
        "MODEL). A design searched with --precisions/--runtime (RUN/front/<id>.pt) is exported as it was searched "
        "when neither is given, and refuses others. `detnas predict` and `detnas benchmark` take the .onnx file or "
        "the *_openvino_model folder.",
    )
    p.add_argument("model", metavar="MODEL", help="weights path or model name")
    p.add_argument("--format", default=None, help="Ultralytics export format (default onnx; not with --runtime)")
    p.add_argument("--runtime", choices=["onnxruntime", "openvino"], help="write the deployable for this runtime")
    p.add_argument("--precision", choices=["fp32", "int8"], default=None, help="with --runtime: fp32 (default) or int8")
    # a design searched with deploy genes (detnas search --precisions): MODEL alone exports it as searched
    p.add_argument(
        "--data",
        type=str,
        default=None,
        help="INT8 calibration: a data YAML or dataset name; images are drawn from its train split (default for a "
        "search's front/<id>.pt: the run's search data)",
    )
    p.add_argument(
        "--calibration-images", type=positive_int, default=None, help="INT8: calibration images drawn (default 64)"
    )
    p.add_argument("--seed", type=int, default=None, help="INT8: seed of the calibration draw (default 0)")
    p.add_argument("--out", metavar="DIR", default=None, help="with --runtime: folder of the deployable")
    p.add_argument(
        "--imgsz",
        type=parse_imgsz,
        default=None,
        help="export size, a multiple of 32 (default: a detnas design's searched size, else 640)",
    )
    p.add_argument("--device", type=device, default="cpu", help="export device: cpu, 0, cuda:0 ... (default cpu)")
    p.add_argument(
        "--weights-dir", type=existing_folder, metavar="DIR", help="folder of named weights, for a MODEL given by name"
    )
    p.set_defaults(func=_export_command)


def _export_command(args) -> int:
    check_weights_dir(args.weights_dir, [args.model])
    if args.runtime is not None or (args.format is None and _searched_deployment(args) is not None):
        return _deploy_command(args)
    for flag, value in (("--precision", args.precision), ("--data", args.data), ("--out", args.out),
                        ("--calibration-images", args.calibration_images), ("--seed", args.seed)):  # fmt: skip
        if value is not None:
            raise ValueError(f"{flag} applies to a deployable: add --runtime onnxruntime|openvino")
    args.format = args.format or "onnx"
    path = export(args.model, format=args.format, imgsz=args.imgsz, device=args.device, weights_dir=args.weights_dir)
    print(f"exported: {path}")
    return 0


def _searched_deployment(args) -> tuple[str, str] | None:
    """The deploy genes of a detnas design checkpoint (``precision`` / ``runtime`` it was searched at), else None."""
    if Path(args.model).suffix.lower() != ".pt" or not Path(args.model).is_file():
        return None
    from detnas.models import load_model

    try:
        return load_model(args.model, weights_dir=args.weights_dir).design_deployment
    except Exception:  # noqa: BLE001 - not a loadable design: the plain export path reports what is wrong
        return None


def _deploy_command(args) -> int:
    from detnas.cli.common import resolve_data
    from detnas.deploy.train_export import export_deployed

    if args.format is not None:
        raise ValueError("--format and --runtime exclude each other: --runtime writes the deployable of that runtime")
    deployed = export_deployed(
        args.model,
        runtime=args.runtime,
        precision=args.precision,
        imgsz=args.imgsz,
        data=resolve_data(args.data) if args.data else None,
        out=args.out,
        calibration_images=args.calibration_images,
        seed=args.seed,
        weights_dir=args.weights_dir,
    )
    calibration = deployed.calibration
    note = f", calibrated on {calibration['count']} images (seed {calibration['seed']})" if calibration else ""
    print(f"exported: {deployed.path} ({deployed.runtime} {deployed.precision} at {deployed.imgsz} px{note}); "
          f"record {deployed.record}")  # fmt: skip
    return 0
