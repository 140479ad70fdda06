"""``detnas search`` options: defaults read from the config dataclasses, the strategy registry, refused combinations.

Every case here fails in argument handling, before any model is built, so they run in-process in well under a second.
"""

from __future__ import annotations

import random
import re
from dataclasses import fields
from pathlib import Path

import pytest

from detnas.cli import build_parser, main
from detnas.designs import yolo11n
from detnas.evaluate.latency_table import new_table
from detnas.search.config import SearchConfig
from detnas.search.strategies import STRATEGIES, StrategySettings, make_strategy
from detnas.space import anchored_space

SEARCH_DEFAULTS = {f.name: f.default for f in fields(SearchConfig)}


def _one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Exit status 2 and exactly one stderr line, ``error: ...`` (argparse exits; handlers return)."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def _help(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_help_shows_the_config_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys)
    assert f"population of aging evolution (default {SEARCH_DEFAULTS['population']})" in text
    assert f"candidates to train (default {SEARCH_DEFAULTS['evaluations']})" in text
    assert f"in a row (default {SEARCH_DEFAULTS['max_failures']})" in text
    # pretrained-zero refits sliced layers by reconstruction; its help once said only "BatchNorm re-estimated"
    assert "BatchNorm re-estimated, mAP50-95" not in text and "least-squares reconstruction" in text
    assert "tse on CPU, map on GPUs" not in text  # the default with checkpoints is 'pretrained', help says so
    assert re.search(r"default pretrained when candidates inherit from COCO-trained checkpoints", text)


def test_unset_options_take_the_dataclass_defaults() -> None:
    args = build_parser().parse_args(["search", "--out", "x"])
    for name in ("evaluations", "population", "strategy", "seed", "max_failures", "device", "latency_backend"):
        assert getattr(args, name) is None, f"--{name} must default to None so SearchConfig decides"


def test_strategy_choices_are_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert "{" + ",".join(sorted(STRATEGIES)) + "}" in _help(capsys).replace(" ", "")


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_registered_strategy_proposes_the_seed_first(name: str) -> None:
    seed = anchored_space().place(yolo11n())
    strategy = make_strategy(name, anchored_space(), [seed], StrategySettings())
    strategy.observe([])
    assert strategy.propose([], random.Random(0)).genome.id == seed.id
    state = strategy.state_dict()
    assert state is None or isinstance(state, dict)


def test_unknown_strategy_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="choose one of"):
        make_strategy("bayes", anchored_space(), [], StrategySettings())


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--data", "coco8"], "--data"),
        (["--proxy", "map"], "--proxy"),
        (["--sizes", "320"], "--sizes"),
        (["--population", "4"], "--population"),
        (["--out", "elsewhere"], "--out"),
        (["--head-probe", "on"], "--head-probe"),
    ],
)
def test_resume_refuses_what_it_cannot_change(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: list[str], flag: str
) -> None:
    line = _one_error_line(capsys, ["search", "--resume", str(tmp_path), *extra])
    assert f"{flag} does not apply with --resume" in line and "--evaluations" in line


def test_parent_takes_files_and_parent_run_folders(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = _one_error_line(capsys, ["search", "--out", str(tmp_path / "s"), "--parent", str(tmp_path)])
    assert "is a folder" in line and "--parent-run" in line
    pt = tmp_path / "x.pt"
    pt.write_bytes(b"0")
    line = _one_error_line(capsys, ["search", "--out", str(tmp_path / "s"), "--parent-run", str(pt)])
    assert "is a file" in line and "--parent" in line
    assert not (tmp_path / "s").exists()


def test_latency_table_implies_its_backend(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    table = new_table(backend="onnx", threads=1).save(tmp_path / "table.json")
    argv = ["search", "--out", str(tmp_path / "s"), "--latency-table", str(table), "--latency-backend", "torch"]
    line = _one_error_line(capsys, argv)
    assert "built with onnx" in line and "drop --latency-backend" in line
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--evaluations", "0"],
        ["--evaluations", "-3"],
        ["--population", "1"],
        ["--tournament", "0"],
        ["--epochs", "0"],
        ["--batch", "0"],
        ["--imgsz", "100"],
        ["--workers", "0"],
        ["--max-failures", "0"],
        ["--timeout", "-1"],
        ["--time-limit", "0"],
        ["--cpus-per-trial", "0"],
        ["--gpus-per-trial", "-1"],
    ],
)
def test_counts_and_sizes_out_of_range(capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]) -> None:
    line = _one_error_line(capsys, ["search", "--out", str(tmp_path / "s"), *argv])
    assert argv[0] in line and "out of range" in line


def test_head_probe_needs_an_inheriting_proxy(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = _one_error_line(capsys, ["search", "--out", str(tmp_path / "s"), "--proxy", "tse", "--head-probe", "on"])
    assert "--head-probe does not apply" in line
    assert not (tmp_path / "s").exists()
