"""The accuracy-latency protocol's verdicts on known rows (`detnas benchmark` drawing the frontier of a real run:
e2e/test_benchmark.py)."""

from __future__ import annotations

from detnas.benchmark.frontier import dominance, goal


def _row(name, kind, model, variant, imgsz, m, ms):
    return {"name": name, "kind": kind, "model": model, "variant": variant, "imgsz": imgsz, "map50_95": m,
            "map50": m, "latency_ms": ms, "latency_spread_ms": 0.1}  # fmt: skip


def test_verdicts_name_what_is_dominated_and_by_how_much():
    rows = [
        _row("yolo11n shipped @640", "baseline", "yolo11n", "shipped", 640, 0.38, 100.0),
        _row("yolo11n shipped @512", "baseline", "yolo11n", "shipped", 512, 0.36, 68.0),
        _row("yolo11n-w0.5 fine-tuned @640", "baseline", "yolo11n-w0.5", "fine-tuned", 640, 0.10, 50.0),
        _row("found-a @576", "found", "found-a", "fine-tuned", 576, 0.385, 74.0),
        _row("found-b @416", "found", "found-b", "fine-tuned", 416, 0.30, 45.0),
    ]
    verdict = dominance(rows)
    shipped = verdict["yolo11n shipped"]
    assert shipped["points"] == 2 and shipped["dominated"] == 1
    assert shipped["details"][0] == {
        "baseline": "yolo11n shipped @640", "by": "found-a @576", "map_gain": 0.005, "latency_ratio": 0.74,
    }  # fmt: skip
    assert verdict["yolo11n-w0.5 fine-tuned"]["dominated"] == 1
    g = goal(rows)
    assert g["met_speed_goal"] and g["faster_at_equal_map"] == ["found-a @576"]
    assert g["front_above_thinning"] and g["thinned_points_matched"] == "1/1"
    slower = [dict(r, latency_ms=80.0) if r["name"] == "found-a @576" else r for r in rows]
    assert not goal(slower)["met_speed_goal"]  # 0.8x is not <= 0.75x


def test_own_classes_goal_holds_found_designs_against_the_transfer_tuned_yolo11n():
    from detnas.benchmark.frontier import FrontierProtocol

    own = FrontierProtocol().for_own_classes()
    assert own.own_classes and own.train_imgsz == 640 and own.recipe.subset is None and own.recipe.epochs == 2
    rows = [
        _row("yolo11n fine-tuned @640", "baseline", "yolo11n", "fine-tuned", 640, 0.20, 100.0),
        _row("yolo11n fine-tuned @416", "baseline", "yolo11n", "fine-tuned", 416, 0.15, 45.0),
        _row("found-a fine-tuned @416", "found", "found-a", "fine-tuned", 416, 0.21, 58.0),
        _row("found-b fine-tuned @480", "found", "found-b", "fine-tuned", 480, 0.22, 70.0),
    ]
    g = goal(rows, own)
    assert g["reference"] == "yolo11n fine-tuned @640" and g["latency_ratio_bar"] == 0.6
    assert g["met_speed_goal"] and g["faster_at_equal_map"] == ["found-a fine-tuned @416"]  # 0.7x is not <= 0.6x
    assert goal(rows)["reference"] is None  # the COCO protocol wants the shipped checkpoint, absent here
    assert not goal([r for r in rows if r["name"] != "found-a fine-tuned @416"], own)["met_speed_goal"]


def _tiny_onnx(folder):
    import torch

    folder.mkdir(parents=True)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 1)).eval()
    torch.onnx.export(net, torch.zeros(1, 3, 64, 64), str(folder / "net.onnx"), input_names=["images"], dynamo=False)


def test_latency_is_timed_twice_per_network_and_the_agreement_reported(tmp_path):
    from dataclasses import replace

    import pytest

    from detnas.benchmark.frontier import FrontierProtocol, time_rows

    rows = []
    for model in ("a", "b"):
        _tiny_onnx(tmp_path / "onnx" / f"{model}_64")
        rows.append(_row(f"{model} @64", "baseline", model, "fine-tuned", 64, 0.1, None) | {"latency_backend": None})
    protocol = FrontierProtocol(warmup=2, rounds=8)
    agreement = time_rows(rows, protocol, tmp_path, log=lambda _: None)
    differences, fastest = [], float("inf")
    for row in rows:
        a, b = row["latency_sessions_ms"]
        assert a > 0 and b > 0 and min(a, b) - 1e-3 <= row["latency_ms"] <= max(a, b) + 1e-3  # ms, rounded
        assert row["latency_backend"] == "onnxruntime cpu 1 thread(s), thread-cpu clock"
        differences.append(abs(a - b) / min(a, b))
        fastest = min(fastest, a, b)
    # the stored session medians are rounded to 1e-6 ms; on a network this tiny (tens of microseconds) that moves
    # the recomputed ratio by up to about 2e-6 / fastest
    assert agreement == pytest.approx(max(differences), rel=1e-3, abs=2.5e-6 / fastest)
    assert replace(protocol, threads=2).timing_clock == "wall" and protocol.to_dict()["clock"] == "thread-cpu"
    with pytest.raises(ValueError, match="one thread"):
        time_rows(rows, replace(protocol, threads=2, clock="thread-cpu"), tmp_path)
