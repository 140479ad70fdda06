"""The deployment genes (issue 20): ``precision`` and ``runtime`` on a genome, optional like ``imgsz``; searched by
the space when asked, by every strategy; stored in the model YAML and the search config."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from detnas.architecture import genome_from_yaml, model_dict, to_yaml, write_yaml
from detnas.cli import build_parser
from detnas.cli.search import _new_config
from detnas.designs import yolo11n
from detnas.errors import InputError
from detnas.genome import ArchGenome
from detnas.search.config import SearchConfig
from detnas.search.strategies import STRATEGIES, StrategySettings, Trial, make_strategy
from detnas.space import SearchSpace, anchored_space

STORED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "pretrained_fidelity.json"


def _stored_designs() -> list[dict]:
    return json.loads(STORED.read_text())["architectures"]


def test_genomes_without_the_genes_keep_their_stored_ids_and_dicts() -> None:
    designs = _stored_designs()
    assert designs, f"{STORED} lists no architectures"
    for design in designs:
        genome = ArchGenome.from_dict(design["genome"])
        assert genome.precision is None and genome.runtime is None and not genome.deployed
        assert genome.id == design["genome_id"], design["name"]
        assert genome.to_json() == json.dumps(design["genome"], sort_keys=True, separators=(",", ":"))


def test_genes_round_trip_change_the_id_and_leave_the_architecture() -> None:
    plain = yolo11n().with_imgsz(416)
    int8 = plain.with_deployment("int8", "openvino")
    fp32 = plain.with_deployment("fp32", "openvino")
    assert len({plain.id, int8.id, fp32.id, int8.with_deployment("int8", "onnxruntime").id}) == 4
    assert ArchGenome.from_json(int8.to_json()) == int8
    assert int8.to_dict()["precision"] == "int8" and int8.to_dict()["runtime"] == "openvino"
    assert int8.architecture == yolo11n() and int8.with_nc(3).precision == "int8"


@pytest.mark.parametrize(
    ("precision", "runtime", "match"),
    [("int4", "openvino", "precision='int4'"), ("int8", "tensorrt", "runtime='tensorrt'"), ("int8", None, "both")],
)
def test_bad_or_half_given_genes_are_refused(precision, runtime, match) -> None:
    data = yolo11n().to_dict() | {"precision": precision, "runtime": runtime}
    with pytest.raises(ValueError, match=match):
        ArchGenome.from_dict(data)


def test_yaml_carries_the_genes_that_stock_ultralytics_ignores(tmp_path: Path) -> None:
    from ultralytics.nn.tasks import DetectionModel

    genome = yolo11n().with_deployment("int8", "onnxruntime")
    text = to_yaml(genome)
    assert "\nprecision: int8 " in text and "\nruntime: onnxruntime " in text
    path = write_yaml(genome, tmp_path / "design.yaml")
    assert genome_from_yaml(path) == genome
    assert model_dict(genome)["precision"] == "int8"
    stock = DetectionModel(str(path), nc=80, verbose=False)  # builds as it is, the keys ignored
    plain = DetectionModel(str(write_yaml(yolo11n(), tmp_path / "plain.yaml")), nc=80, verbose=False)
    assert sum(p.numel() for p in stock.parameters()) == sum(p.numel() for p in plain.parameters())
    assert "precision" not in to_yaml(yolo11n())


@pytest.mark.parametrize("space_kind", ["full", "anchored"])
def test_space_samples_and_mutates_the_genes_and_seeds_start_at_fp32(space_kind: str) -> None:
    deploy = {"precisions": ("fp32", "int8"), "runtimes": ("openvino", "onnxruntime")}
    space = anchored_space(**deploy) if space_kind == "anchored" else SearchSpace(**deploy)
    rng = random.Random(3)
    sampled = [space.sample(rng) for _ in range(40)]
    assert {g.precision for g in sampled} == {"fp32", "int8"}
    assert {g.runtime for g in sampled} == {"openvino", "onnxruntime"}
    seed = space.place(yolo11n())
    assert (seed.precision, seed.runtime) == ("fp32", "openvino")
    assert ("precision",) in dict(space.genes(seed)) and ("runtime",) in dict(space.genes(seed))
    moved = [space.mutate(seed, rng) for _ in range(200)]
    only_deploy = [g for g in moved if g.architecture == seed.architecture]
    assert any(g.precision == "int8" for g in only_deploy)  # one-gene mutations that only change the precision
    assert space.size() == 4 * (anchored_space() if space_kind == "anchored" else SearchSpace()).size()
    child = space.crossover(seed, seed.with_deployment("int8", "onnxruntime").with_imgsz(None), rng)
    assert child.deployed


def test_a_space_without_the_genes_draws_what_it_drew_before() -> None:
    before = [SearchSpace().sample(random.Random(i)) for i in range(5)]
    single = SearchSpace(precisions=("int8",), runtimes=("openvino",))  # no real choice: no extra draw
    after = [single.sample(random.Random(i)) for i in range(5)]
    assert [g.architecture for g in after] == before
    assert all(g.precision == "int8" for g in after)
    assert SearchSpace().place(before[0].with_deployment("int8", "openvino")) == before[0]


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_searches_the_precision(name: str) -> None:
    space = anchored_space(precisions=("fp32", "int8"), runtimes=("openvino",))
    seed = space.place(yolo11n())
    strategy = make_strategy(name, space, [seed], StrategySettings(population=4, tournament=2))
    rng, history = random.Random(0), []
    while len(history) < 150 and not any(t.genome.precision == "int8" for t in history):
        strategy.observe(history)  # a mutation changes one of ~60 genes: the precision a few times in 150
        genome = strategy.propose(history, rng).genome
        history.append(Trial(genome, "done", random.Random(genome.id).random(), 10.0))
    assert history[0].genome.precision == "fp32"
    assert {t.genome.precision for t in history} == {"fp32", "int8"}
    assert all(t.genome.runtime == "openvino" for t in history)


def test_config_defaults_the_other_gene_and_stores_them_only_when_searched(tmp_path: Path) -> None:
    data = str(tmp_path / "d.yaml")
    config = SearchConfig(data=data, precisions=("int8", "fp32", "int8"))
    assert config.precisions == ("fp32", "int8") and config.runtimes == ("openvino",)
    assert SearchConfig.from_dict(config.to_dict()) == config
    assert "precisions" not in SearchConfig(data=data).to_dict()
    assert SearchConfig(data=data, runtimes=("onnxruntime",)).precisions == ("fp32",)
    with pytest.raises(InputError, match="trains no weights"):
        SearchConfig(data=data, precisions=("int8",), proxy="synflow")
    zero = SearchConfig(data=data, precisions=("int8",), proxy="pretrained-zero", parents=("yolo11n.pt",))
    assert zero.precisions == ("int8",)  # inherited weights, validated without training: they can be deployed
    with pytest.raises(InputError, match="cannot be searched"):
        SearchConfig(data=data, precisions=("int4",))


def test_search_flags_reach_the_config() -> None:
    argv = ["search", "--out", "x", "--data", "coco8", "--proxy", "map", "--precisions", "int8", "fp32"]
    config, mode = _new_config(build_parser().parse_args([*argv, "--runtime", "onnxruntime"]))
    assert config.precisions == ("fp32", "int8") and config.runtimes == ("onnxruntime",)
    assert "deployed fp32/int8 on onnxruntime" in mode
    config, _ = _new_config(build_parser().parse_args(["search", "--out", "x", "--data", "coco8", "--proxy", "map"]))
    assert config.precisions == () and config.runtimes == ()


def test_report_names_how_each_front_design_is_deployed(tmp_path: Path) -> None:
    from detnas.search.report import write_outputs
    from detnas.search.store import Store

    store = Store(tmp_path / "search.sqlite")
    store.set_meta("config", {"strategy": "random", "proxy": "pretrained-zero", "recipe": {"imgsz": 320}})
    int8, fp32 = yolo11n().with_deployment("int8", "openvino"), yolo11n().with_deployment("fp32", "openvino")
    for genome, score, latency in ((int8, 0.25, 10.0), (fp32, 0.30, 20.0)):  # both on the front
        store.add_candidate(
            genome_id=genome.id,
            genome_json=genome.to_json(),
            yaml=to_yaml(genome),
            origin="sample",
            parents=(),
            state={},
        )
        store.finish(genome.id, status="done", evaluation=None, map=score, score=score, latency_ms=latency)
    report = write_outputs(tmp_path, store)["report"].read_text()
    assert "| deployed |" in report
    assert f"| {int8.id} " in report and "| int8 openvino |" in report and "| fp32 openvino |" in report
    front = json.loads((tmp_path / "pareto.json").read_text())["front"]
    assert {r["genome_id"]: r["deployed"] for r in front} == {int8.id: "int8 openvino", fp32.id: "fp32 openvino"}
