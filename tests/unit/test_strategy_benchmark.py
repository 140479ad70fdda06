"""The strategy benchmark's reading of its curves: censored evaluations-to-reach, the local control and the goal."""

from __future__ import annotations

import random
from pathlib import Path

from tests.helpers import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "strategy_vs_random.py"


def _benchmark():
    return load_script(SCRIPT)


def test_a_seed_that_never_reaches_the_target_counts_beyond_the_budget() -> None:
    bench = _benchmark()
    curves = [[1.0, 2.0, 3.0], [1.0, 1.0, 3.0], [1.0, 1.0, 1.0]]
    reach = bench.evals_to_reach(curves, 3.0)
    assert reach["per_seed"] == [3, 3, None] and reach["seeds_reaching"] == 2
    assert reach["median"] == 3  # two of three reach it at 3: the median seed does
    reach = bench.evals_to_reach(curves, 2.0)
    assert reach["per_seed"] == [2, 3, None] and reach["median"] == 3
    never = bench.evals_to_reach([[1.0, 1.0], [1.0, 2.0], [1.0, 1.0]], 2.0)
    assert never["median"] is None and never["ci95"][1] is None  # the median seed never reaches it: beyond the budget


def test_local_is_the_target_and_the_goal_reads_60_percent_of_the_budget() -> None:
    bench = _benchmark()
    flat = [94.0] * 10
    local = [94.0, 95.0, 95.0, 95.0, 96.0, 96.0, 96.0, 96.0, 96.0, 97.0]  # final 97 on every seed
    fast = [94.0, 95.0, 96.0, 97.0, 97.5, 97.5, 97.5, 97.5, 97.5, 97.5]  # reaches 97 at evaluation 4
    late = [94.0] * 6 + [96.0, 96.0, 97.0, 98.0]  # reaches 97 at evaluation 9
    rows = [
        {"curves": {"random": {"w": flat}, "local": {"w": local}, "evolution": {"w": fast}, "rl": {"w": late}}}
        for _ in range(5)
    ]
    summary = bench.summarize(rows, [5, 10], "w")
    assert summary["local_final_hv"] == 97.0 and summary["random_final_hv"] == 94.0
    s = summary["strategies"]
    assert s["evolution"]["evals_to_local_final_hv"] == 4 and s["rl"]["evals_to_local_final_hv"] == 9
    assert s["random"]["evals_to_local_final_hv"] is None and s["random"]["seeds_reaching_local_final_hv"] == 0
    assert s["evolution"]["evals_to_random_final_hv"] == 1
    goal = bench.goal(summary, 10)
    assert goal["met"] and goal["met_by"] == ["evolution"]  # 4 <= 6; RL's 9 is beyond 60% of 10
    for row in rows:
        row["curves"]["evolution"]["w"] = late
    assert not bench.goal(bench.summarize(rows, [5, 10], "w"), 10)["met"]


def test_local_search_runs_in_the_benchmark_and_counts_the_seeds() -> None:
    """On the analytic stand-in with the anchored space's seeds: local's first three evaluations are the seeds, so its
    with-seeds curve starts at the seeds' hypervolume and never falls."""
    from detnas.space import anchored_space

    bench = _benchmark()
    space = anchored_space()
    bench.OBJECTIVE.update(
        space=space, seeds=space.anchors, score=lambda g: (random.Random(g.id).random(), 10.0), settings={}
    )
    curves = bench.run_strategy("local", 0, 8, (0.0, 20.0))
    seeds_hv = max(random.Random(g.id).random() for g in space.anchors) * 10.0
    assert abs(curves["with_seeds"][2] - seeds_hv) < 1e-9
    assert all(b >= a for a, b in zip(curves["with_seeds"], curves["with_seeds"][1:], strict=False))
    assert curves["found"][2] == 0.0  # nothing found yet: the seeds are not counted there
