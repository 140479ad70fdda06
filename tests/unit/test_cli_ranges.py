"""Every count, size and range option of space, latency, parent, benchmark, predict, train, export and evaluate
refuses an out-of-range value with one ``error:`` line naming the option and exit 2.

Parse-only: argparse converts an option's value when it reads it, so a bad value stops the command before any handler
runs; nothing here loads a model, reads data or trains. (``detnas search`` is covered by its own tests.)
"""

from __future__ import annotations

import pytest

from detnas.cli import build_parser, main

# The required arguments of each command, so that the only mistake in an argv is the option under test.
COMMANDS: dict[str, list[str]] = {
    "space sample": ["space", "sample", "--out", "OUT"],
    "space show": ["space", "show", "yolo11n", "--out", "OUT"],
    "latency build-table": ["latency", "build-table", "--out", "OUT/table.json"],
    "latency predict": ["latency", "predict", "yolo11n", "--latency-table", "OUT/table.json"],
    "parent train": ["parent", "train", "--out", "OUT"],
    "benchmark": ["benchmark", "--models", "yolo11n", "--out", "OUT"],
    "predict": ["predict", "yolo11n", "OUT/image.jpg", "--out", "OUT"],
    "train": ["train", "yolo11n.yaml", "--data", "coco8", "--epochs", "1"],
    "export": ["export", "yolo11n"],
    "evaluate": ["evaluate", "OUT/arch.yaml", "--data", "coco8"],
}

BAD_IMGSZ = ["0", "-32", "100", "31", "x"]  # every --imgsz: a positive multiple of 32
BAD_DEVICE = ["banana", "cuda:x", "0,a", "cuda:99"]  # cuda:99: no such device on any machine that runs this

CASES: list[tuple[str, str, str]] = [
    *[("space sample", "--n", v) for v in ("0", "-1", "two")],
    *[("space sample", "--imgsz", v) for v in BAD_IMGSZ],
    *[("space sample", "--nc", v) for v in ("0", "-3")],
    ("space sample", "--seed", "1.5"),
    *[("space show", "--imgsz", v) for v in BAD_IMGSZ],
    *[("space show", "--nc", v) for v in ("0", "-3")],
    *[("latency build-table", "--threads", v) for v in ("0", "-1")],
    *[("latency build-table", "--imgsz", v) for v in BAD_IMGSZ],
    ("latency build-table", "--imgsz", "320 100"),  # the second of two sizes
    ("latency build-table", "--samples", "-1"),
    ("latency build-table", "--calibration", "-1"),
    ("latency build-table", "--nc", "0"),
    *[("latency build-table", "--runs", v) for v in ("1", "0", "-5")],
    ("latency build-table", "--warmup", "-1"),
    *[("latency predict", "--imgsz", v) for v in BAD_IMGSZ],
    *[("parent train", "--epochs", v) for v in ("0", "-1")],
    *[("parent train", "--imgsz", v) for v in BAD_IMGSZ],
    *[("parent train", "--batch", v) for v in ("0", "-16")],
    *[("parent train", "--device", v) for v in BAD_DEVICE],
    *[("benchmark", "--imgsz", v) for v in BAD_IMGSZ],
    *[("benchmark", "--batch", v) for v in ("0", "-1")],
    *[("benchmark", "--threads", v) for v in ("0", "-2")],
    ("benchmark", "--warmup", "-1"),
    *[("benchmark", "--runs", v) for v in ("1", "0")],
    *[("benchmark", "--sizes", v) for v in ("none", "100", "0-64", "704")],
    *[("benchmark", "--device", v) for v in BAD_DEVICE],
    ("benchmark", "--weights-dir", "OUT/no-such-folder"),
    *[("predict", "--conf", v) for v in ("-0.1", "1.5", "nan", "x")],
    *[("predict", "--iou", v) for v in ("-0.01", "1.01", "inf")],
    *[("predict", "--imgsz", v) for v in BAD_IMGSZ],
    *[("predict", "--device", v) for v in BAD_DEVICE],
    ("predict", "--weights-dir", "OUT/no-such-folder"),
    *[("train", "--epochs", v) for v in ("0", "-1", "1.5")],
    *[("train", "--imgsz", v) for v in BAD_IMGSZ],
    *[("train", "--batch", v) for v in ("0", "-1")],
    ("train", "--workers", "-1"),
    *[("train", "--device", v) for v in BAD_DEVICE],
    ("train", "--weights-dir", "OUT/no-such-folder"),
    *[("export", "--imgsz", v) for v in BAD_IMGSZ],
    *[("export", "--device", v) for v in BAD_DEVICE],
    ("export", "--weights-dir", "OUT/no-such-folder"),
    *[("evaluate", "--epochs", v) for v in ("0", "-1")],
    *[("evaluate", "--imgsz", v) for v in BAD_IMGSZ],
    *[("evaluate", "--batch", v) for v in ("0", "-1")],
    *[("evaluate", "--subset", v) for v in ("0", "-3", "1.5", "0.0", "nan", "x")],
    *[("evaluate", "--time-limit", v) for v in ("0", "-1", "nan")],
    *[("evaluate", "--timeout", v) for v in ("0", "-1")],
    *[("evaluate", "--threads", v) for v in ("0", "-1")],
    *[("evaluate", "--runs", v) for v in ("1", "0")],
    *[("evaluate", "--device", v) for v in BAD_DEVICE],
]


def _argv(command: str, *extra: str, out: str) -> list[str]:
    return [a.replace("OUT", out) for a in (*COMMANDS[command], *extra)]


@pytest.mark.parametrize(("command", "option", "value"), CASES, ids=[" ".join(c) for c in CASES])
def test_out_of_range_is_one_error_line(
    command: str, option: str, value: str, tmp_path, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(_argv(command, option, *value.split(" "), out=str(tmp_path)))
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert f"argument {option}:" in lines[0], lines[0]
    assert captured.out == ""
    assert list(tmp_path.iterdir()) == []  # refused before anything ran


# The edges of each range are accepted (and --seed takes any integer), with the value each option then holds.
ACCEPTED: list[tuple[str, list[str], dict[str, object]]] = [
    ("space sample", ["--n", "1", "--imgsz", "32", "--nc", "1", "--seed", "-7"], {"n": 1, "imgsz": 32, "seed": -7}),
    ("space show", ["--imgsz", "640"], {"imgsz": 640}),
    (
        "latency build-table",
        [
            "--threads",
            "1",
            "--imgsz",
            "32",
            "640",
            "--samples",
            "0",
            "--calibration",
            "0",
            "--runs",
            "2",
            "--warmup",
            "0",
        ],
        {"threads": 1, "imgsz": [32, 640], "samples": 0, "calibration": 0, "runs": 2, "warmup": 0},
    ),
    ("latency build-table", [], {"runs": None, "warmup": None, "imgsz": [320]}),  # unset: new-table defaults
    ("parent train", ["--epochs", "1", "--batch", "1", "--imgsz", "64", "--seed", "-1"], {"epochs": 1, "batch": 1}),
    (
        "benchmark",
        ["--imgsz", "64", "--batch", "1", "--threads", "1", "--warmup", "0", "--runs", "2", "--sizes", "320-384"],
        {"imgsz": 64, "batch": 1, "warmup": 0, "runs": 2, "sizes": (384, 352, 320)},
    ),
    ("benchmark", [], {"batch": None, "device": None, "imgsz": None}),  # unset: told apart from given
    ("predict", ["--conf", "0", "--iou", "1", "--imgsz", "32", "--device", "cpu"], {"conf": 0.0, "iou": 1.0}),
    ("predict", ["--conf", "1", "--iou", "0"], {"conf": 1.0, "iou": 0.0, "imgsz": None}),
    ("train", ["--epochs", "1", "--batch", "1", "--workers", "0", "--seed", "-3"], {"workers": 0, "seed": -3}),
    ("export", ["--imgsz", "32"], {"imgsz": 32}),
    (
        "evaluate",
        ["--epochs", "1", "--subset", "1", "--time-limit", "0.5", "--timeout", "1", "--runs", "2", "--seed", "-1"],
        {"epochs": 1, "subset": 1, "time_limit": 0.5, "runs": 2, "seed": -1},
    ),
    ("evaluate", ["--subset", "1.0"], {"subset": 1.0}),
    ("evaluate", ["--subset", "0.25"], {"subset": 0.25}),
    ("evaluate", [], {"batch": None, "threads": None, "runs": None}),  # unset: told apart from given
]


@pytest.mark.parametrize(("command", "extra", "expected"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_range_edges_are_accepted(command: str, extra: list[str], expected: dict[str, object], tmp_path) -> None:
    args = build_parser().parse_args(_argv(command, *extra, out=str(tmp_path)))
    assert {key: getattr(args, key) for key in expected} == expected


# Options the command would silently ignore in that mode: one line, exit 2, before any model or data is loaded.
IGNORED: list[tuple[list[str], str]] = [
    (["space", "show", "yolo11n", "--imgsz", "320"], "--imgsz"),  # no --out: no GFLOPs printed
    (["predict", "OUT/model.pt", "OUT/image.jpg", "--out", "OUT/p", "--weights-dir", "OUT"], "--weights-dir"),
    (["train", "OUT/arch.yaml", "--data", "coco8", "--epochs", "1", "--weights-dir", "OUT"], "--weights-dir"),
    (["export", "OUT/model.pt", "--weights-dir", "OUT"], "--weights-dir"),
    (["evaluate", "OUT/a.yaml", "--data", "coco8", "--proxy", "params", "--epochs", "2"], "--epochs"),
    (["evaluate", "OUT/a.yaml", "--data", "coco8", "--proxy", "synflow", "--batch", "8"], "--batch"),
    (["evaluate", "OUT/a.yaml", "--data", "coco8", "--proxy", "pretrained-zero", "--time-limit", "9"], "--time-limit"),
    (["evaluate", "OUT/a.yaml", "--data", "coco8", "--proxy", "map", "--parent", "OUT/p.pt"], "--parent"),
    (["evaluate", "OUT/a.yaml", "--data", "coco8", "--proxy", "tse", "--parent-run", "OUT/parent"], "--parent-run"),
    (["evaluate", "OUT/a.yaml", "--data", "coco8", "--latency-backend", "none", "--runs", "5"], "--runs"),
    (["evaluate", "OUT/a.yaml", "--data", "coco8", "--latency-backend", "none", "--threads", "2"], "--threads"),
]


@pytest.mark.parametrize(("argv", "option"), IGNORED, ids=[" ".join(a[:2]) + " " + o for a, o in IGNORED])
def test_ignored_option_is_refused(argv: list[str], option: str, tmp_path, capsys: pytest.CaptureFixture) -> None:
    assert main([a.replace("OUT", str(tmp_path)) for a in argv]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {option} ") and "drop" in lines[0], captured.err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "value"), [("--batch", "4"), ("--device", "cpu"), ("--weights-dir", "OUT"), ("--imgsz", "320")]
)
def test_anchored_benchmark_refuses_what_its_protocol_fixes(
    option: str, value: str, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A pretrained-anchored run folder is benchmarked on ONNX Runtime CPU at batch 8 against its checkpoints."""
    from detnas.cli import benchmark

    monkeypatch.setattr(benchmark, "_anchored_run", lambda models: tmp_path / "run")  # no search needed to see it
    argv = ["benchmark", "--models", str(tmp_path / "run"), "--out", str(tmp_path / "b"), option, value]
    assert main([a.replace("OUT", str(tmp_path)) for a in argv]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {option} does not apply to a pretrained-anchored run")


def test_resumed_latency_table_refuses_other_runs_or_warmup(tmp_path, capsys: pytest.CaptureFixture) -> None:
    """A resumed table keeps its own --runs and --warmup; giving others would be silently ignored."""
    from detnas.evaluate.latency_table import new_table

    path = tmp_path / "table.json"
    new_table(backend="onnx", threads=1, warmup=1, runs=3, clock="cpu").save(path)
    nothing = ["--samples", "0", "--no-designs", "--calibration", "0"]
    for option, value in (("--runs", "50"), ("--warmup", "5")):
        assert main(["latency", "build-table", "--out", str(path), *nothing, option, value]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {option} {value} does not apply to {path}"), lines
    assert main(["latency", "build-table", "--out", str(path), *nothing, "--runs", "3", "--warmup", "1"]) == 0
