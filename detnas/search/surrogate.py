"""A surrogate of real evaluations (NAS-Bench-301 style): genome -> (pretrained-zero mAP50-95, latency ms) at the
genome's input size (320 px where it has none).

Search strategies are compared on it because real evaluations cost ~20 s each and a fair comparison needs thousands
(3 strategies x 20 seeds x 100 evaluations); an analytic objective is too flat and too unlike the real one to tell
strategies apart. The surrogate is fitted to ``benchmarks/results/surrogate_evaluations.jsonl`` (made by
``benchmarks/surrogate_data.py``) and its own fit is measured on held-out architectures (``cross_validate``).

Features need no model build (a build costs ~0.7 s; a benchmark asks for thousands of genomes): the family, every
gene as a change from the family's anchor (log width ratios, depth and expansion differences, flags), counts of
shrunk and grown genes (slicing a trained layer destroys it while Net2Net growth keeps its function, so mAP hinges
on them), the input size (log2 of imgsz/320) and a rough multiply-add count of the convolutions at that size for
latency. The model is a random forest of regression
trees written here in numpy (no scikit-learn dependency) for mAP, and a ridge line through the cost features for
log latency (measured on a shared machine, latency carries contention noise a forest would learn).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detnas.genome import ArchGenome
from detnas.space import SearchSpace, anchored_space, block_families, full_dict, gene_at

WIDTH_GENES = ("stem_channels", "down_channels", "channels")
STRIDES = (4, 8, 16, 32)  # P2..P5 stage outputs; the stem is stride 2
BASE_IMGSZ = 320  # the size of a genome without an imgsz gene (the search's fine-tune size)


# ---- features -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Featurizer:
    """Turns a genome of an anchored space into a fixed-length vector (see the module docstring)."""

    space: SearchSpace = field(default_factory=anchored_space)

    def __post_init__(self) -> None:
        if not self.space.anchors:
            raise ValueError("the surrogate describes an anchored space: pass detnas.space.anchored_space()")

    def paths(self) -> list[tuple]:
        seen: dict[tuple, None] = {}
        for anchor in self.space.anchors:
            for path, _ in self.space.genes(anchor):
                seen.setdefault(path, None)
        return list(seen)

    def names(self) -> list[str]:
        fixed = [f"family_{i}" for i in range(len(self.space.anchors))]
        fixed += ["changed", "width_down", "width_up", "log_width_down", "log_width_up", "depth_down", "depth_up"]
        fixed += ["expansion_down", "expansion_up", "flags_changed", "kernels_changed", "log_imgsz", "log_macs"]
        fixed += ["log_params"]
        return fixed + ["/".join(map(str, p)) for p in self.paths()]

    def __call__(self, genome: ArchGenome) -> np.ndarray:
        data = full_dict(genome)
        families = block_families(data)
        index = next((i for i, a in enumerate(self.space.anchors) if block_families(full_dict(a)) == families), None)
        if index is None:
            raise ValueError(f"genome {genome.id} belongs to no anchor's family: the surrogate cannot describe it")
        anchor = full_dict(self.space.anchors[index])
        family = [float(i == index) for i in range(len(self.space.anchors))]
        counts = dict.fromkeys(self.names()[len(family) : len(family) + 11], 0.0)
        per_gene = []
        for path in self.paths():
            try:
                value, base = gene_at(data, path), gene_at(anchor, path)
            except (KeyError, IndexError):
                per_gene.append(0.0)
                continue
            change = _change(path[-1], value, base)
            per_gene.append(change)
            if change == 0:
                continue
            counts["changed"] += 1
            name = path[-1]
            if name in WIDTH_GENES:
                counts["width_down" if change < 0 else "width_up"] += 1
                counts["log_width_down" if change < 0 else "log_width_up"] += abs(change)
            elif name in ("repeats", "c2psa_repeats"):
                counts["depth_down" if change < 0 else "depth_up"] += 1
            elif name == "expansion":
                counts["expansion_down" if change < 0 else "expansion_up"] += 1
            elif isinstance(value, bool):
                counts["flags_changed"] += 1
            else:
                counts["kernels_changed"] += 1
        imgsz = genome.imgsz or BASE_IMGSZ
        macs, params = _rough_cost(data, imgsz)
        size = math.log2(imgsz / BASE_IMGSZ)
        return np.array([*family, *counts.values(), size, math.log(macs), math.log(params), *per_gene], dtype=float)


def _change(name: str, value: object, base: object) -> float:
    if isinstance(value, bool) or isinstance(base, bool):
        return float(value) - float(base)
    if name in WIDTH_GENES:
        return math.log2(float(value) / float(base))
    return float(value) - float(base)


def _rough_cost(data: dict, imgsz: int = BASE_IMGSZ) -> tuple[float, float]:
    """Multiply-adds at ``imgsz`` and weights of the convolutions, roughly: stem, strided convs, CSP blocks (1x1 convs
    plus 3x3 bottlenecks), SPPF/C2PSA tail, a PAN P3-P5 neck with its concatenated inputs, and the Detect head."""
    side = imgsz
    cost = [0.0, 0.0]  # macs, params

    def conv(c_in: float, c_out: float, k: int, stride: int) -> None:
        weights = c_in * c_out * k * k
        cost[0] += weights * (side / stride) ** 2
        cost[1] += weights

    def block(b: dict, c_in: float, stride: int) -> float:
        c_out, hidden = b["channels"], b["channels"] * b["expansion"]
        conv(c_in, 2 * hidden, 1, stride)
        for _ in range(b["repeats"] * (2 if b.get("c3k") else 1)):
            conv(hidden, hidden, 3, stride)
            conv(hidden, hidden, 3, stride)
        conv((2 + b["repeats"]) * hidden, c_out, 1, stride)
        return c_out

    bb = data["backbone"]
    conv(3, bb["stem_channels"], bb.get("stem_kernel", 3), 2)
    c_in, outs = bb["stem_channels"], {}
    for stage, stride in zip(bb["stages"], STRIDES, strict=True):
        conv(c_in, stage["down_channels"], stage["down_kernel"], stride)
        c_in = block(stage["block"], stage["down_channels"], stride)
        outs[stride] = c_in
    if bb.get("sppf"):
        conv(c_in, c_in / 2, 1, 32)
        conv(2 * c_in, c_in, 1, 32)
    if bb.get("c2psa"):
        for _ in range(bb.get("c2psa_repeats", 1)):
            conv(c_in, 2 * c_in, 1, 32)
            conv(c_in, 2 * c_in, 1, 32)
    nodes = {n: node for n, node in zip(("td4", "td3", "bu4", "bu5"), data["neck"]["nodes"], strict=False)}
    level = {"td4": 16, "td3": 8, "bu4": 16, "bu5": 32}
    inputs = {"td4": outs[32] + outs[16], "td3": 0.0, "bu4": 0.0, "bu5": 0.0}
    widths: dict[str, float] = {}
    for name in ("td4", "td3", "bu4", "bu5"):
        if name not in nodes:
            continue
        if name == "td3":
            inputs[name] = widths["td4"] + outs[8]
        elif name == "bu4":
            conv(widths["td3"], widths["td3"], 3, 16)
            inputs[name] = widths["td3"] + widths["td4"]
        elif name == "bu5":
            conv(widths["bu4"], widths["bu4"], 3, 32)
            inputs[name] = widths["bu4"] + outs[32]
        widths[name] = block(nodes[name], inputs[name], level[name])
    first = widths.get("td3", outs[8])
    c2, c3 = max(16, first / 4, 64), max(first, 80)
    for name in ("td3", "bu4", "bu5"):
        ch = widths.get(name, outs[level[name]])
        conv(ch, c2, 3, level[name])
        conv(c2, c2, 3, level[name])
        conv(ch, c3, 3, level[name])
        conv(c3, c3, 3, level[name])
        conv(c2 + c3, 144, 1, level[name])
    return cost[0], cost[1]


# ---- a random forest of regression trees --------------------------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    """A regression tree as arrays: node i splits on ``feature[i] <= threshold[i]`` (feature -1 marks a leaf)."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray

    def predict(self, x: np.ndarray) -> np.ndarray:
        node = np.zeros(len(x), dtype=int)
        active = self.feature[node] >= 0
        while active.any():
            idx = np.nonzero(active)[0]
            f = self.feature[node[idx]]
            go_left = x[idx, f] <= self.threshold[node[idx]]
            node[idx] = np.where(go_left, self.left[node[idx]], self.right[node[idx]])
            active = self.feature[node] >= 0
        return self.value[node]


def fit_tree(
    x: np.ndarray, y: np.ndarray, *, rng: np.random.Generator, max_features: int, min_leaf: int = 2, max_depth: int = 12
) -> Tree:
    """CART with squared error; ``max_features`` features drawn per split, as a random forest does."""
    feature, threshold, left, right, value = [], [], [], [], []

    def grow(rows: np.ndarray, depth: int) -> int:
        node = len(feature)
        feature.append(-1)
        threshold.append(0.0)
        left.append(-1)
        right.append(-1)
        value.append(float(y[rows].mean()))
        if depth >= max_depth or len(rows) < 2 * min_leaf or np.ptp(y[rows]) == 0:
            return node
        best = (0.0, -1, 0.0)  # (gain, feature, threshold)
        total, n = y[rows].sum(), len(rows)
        parent_sse = -(total**2) / n
        for f in rng.choice(x.shape[1], size=min(max_features, x.shape[1]), replace=False):
            order = np.argsort(x[rows, f], kind="stable")
            xs, ys = x[rows, f][order], y[rows][order]
            sums = np.cumsum(ys)[:-1]
            counts = np.arange(1, n)
            valid = (xs[:-1] < xs[1:]) & (counts >= min_leaf) & (n - counts >= min_leaf)
            if not valid.any():
                continue
            sse = -(sums**2) / counts - ((total - sums) ** 2) / (n - counts)
            sse = np.where(valid, sse, np.inf)
            k = int(np.argmin(sse))
            gain = parent_sse - sse[k]
            if gain > best[0] + 1e-15:
                best = (gain, int(f), float((xs[k] + xs[k + 1]) / 2))
        if best[1] < 0:
            return node
        mask = x[rows, best[1]] <= best[2]
        if mask.all() or not mask.any():  # the midpoint of two adjacent floats rounded onto one of them: no split
            return node
        feature[node], threshold[node] = best[1], best[2]
        left[node] = grow(rows[mask], depth + 1)
        right[node] = grow(rows[~mask], depth + 1)
        return node

    grow(np.arange(len(y)), 0)
    return Tree(np.array(feature), np.array(threshold), np.array(left), np.array(right), np.array(value))


@dataclass(frozen=True)
class Ridge:
    """A linear model on a few columns, for latency: on a shared machine the measured latency carries contention noise
    a forest would learn; a line through the network's cost (in log space) cannot."""

    columns: tuple[int, ...]
    weights: np.ndarray

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.c_[x[:, self.columns], np.ones(len(x))] @ self.weights


def fit_ridge(x: np.ndarray, y: np.ndarray, *, columns: tuple[int, ...], alpha: float = 1e-3) -> Ridge:
    design = np.c_[x[:, columns], np.ones(len(x))]
    weights = np.linalg.solve(design.T @ design + alpha * np.eye(design.shape[1]), design.T @ y)
    return Ridge(columns, weights)


LATENCY_FEATURES = ("family_0", "family_1", "family_2", "log_macs", "log_params")


def fit_latency(x: np.ndarray, y: np.ndarray, featurizer: Featurizer) -> Ridge:
    names = featurizer.names()
    return fit_ridge(x, y, columns=tuple(names.index(n) for n in LATENCY_FEATURES))


@dataclass(frozen=True)
class Forest:
    trees: tuple[Tree, ...]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.mean([t.predict(x) for t in self.trees], axis=0)


def fit_forest(x: np.ndarray, y: np.ndarray, *, seed: int = 0, trees: int = 100, min_leaf: int = 2) -> Forest:
    """Bagged trees on bootstrap samples, a third of the features per split."""
    rng = np.random.default_rng(seed)
    grown = []
    for _ in range(trees):
        rows = rng.integers(0, len(y), size=len(y))
        grown.append(fit_tree(x[rows], y[rows], rng=rng, max_features=max(1, x.shape[1] // 3), min_leaf=min_leaf))
    return Forest(tuple(grown))


# ---- the surrogate --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Surrogate:
    """Predicted (mAP50-95, latency ms) of a genome; memoised per genome id because strategies revisit designs."""

    featurizer: Featurizer
    map_model: Forest
    latency_model: Ridge
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def __call__(self, genome: ArchGenome) -> tuple[float, float]:
        hit = self._cache.get(genome.id)
        if hit is None:
            x = self.featurizer(genome)[None, :]
            hit = (float(self.map_model.predict(x)[0]), float(math.exp(self.latency_model.predict(x)[0])))
            self._cache[genome.id] = hit
        return hit


def load_rows(path: str | Path) -> list[dict]:
    """The successful evaluations of a results file (one JSON object per line)."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("status") == "ok"]


def design_matrix(rows: list[dict], featurizer: Featurizer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.stack([featurizer(ArchGenome.from_dict(r["genome"])) for r in rows])
    return x, np.array([r["map50_95"] for r in rows]), np.log(np.array([r["latency_ms"] for r in rows]))


def fit_surrogate(rows: list[dict], *, seed: int = 0, trees: int = 100) -> Surrogate:
    featurizer = Featurizer()
    x, y_map, y_lat = design_matrix(rows, featurizer)
    return Surrogate(featurizer, fit_forest(x, y_map, seed=seed, trees=trees), fit_latency(x, y_lat, featurizer))


def cross_validate(rows: list[dict], *, folds: int = 5, seed: int = 0, trees: int = 100) -> dict:
    """Rank agreement of held-out predictions with the measurements: k-fold, every architecture held out once."""
    from scipy.stats import kendalltau, spearmanr

    featurizer = Featurizer()
    x, y_map, y_lat = design_matrix(rows, featurizer)
    order = np.random.default_rng(seed).permutation(len(rows))
    pred_map, pred_lat = np.zeros(len(rows)), np.zeros(len(rows))
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        pred_map[test] = fit_forest(x[train], y_map[train], seed=seed + k, trees=trees).predict(x[test])
        pred_lat[test] = fit_latency(x[train], y_lat[train], featurizer).predict(x[test])
    good = y_map > 0.01  # the designs that kept their parent's function: is their order right too?
    # within each group the intact-versus-sliced split cannot make the agreement (rows collected before the
    # inheritance record was kept lack the flags)
    known = all("sliced" in r and "changes_function" in r for r in rows)
    sliced = np.array([bool(r.get("sliced")) for r in rows])
    intact = np.array([r.get("changes_function") is False for r in rows])

    def agreement(pred: np.ndarray, true: np.ndarray) -> dict:
        return {
            "spearman": float(spearmanr(pred, true).statistic),
            "kendall_tau": float(kendalltau(pred, true).statistic),
            "n": int(len(true)),
        }

    return {
        "folds": folds,
        "map50_95": {
            **agreement(pred_map, y_map),
            "mae": float(np.mean(np.abs(pred_map - y_map))),
            "above_0.01": agreement(pred_map[good], y_map[good]) if good.sum() > 2 else None,
            "within_intact": agreement(pred_map[intact], y_map[intact]) if known and intact.sum() > 2 else None,
            "within_sliced": agreement(pred_map[sliced], y_map[sliced]) if known and sliced.sum() > 2 else None,
        },
        "latency_ms": {
            **agreement(pred_lat, y_lat),
            "median_abs_pct_error": float(np.median(np.abs(np.exp(pred_lat - y_lat) - 1)) * 100),
        },
        "predictions": [
            {"id": r["id"], "map50_95": float(pm), "latency_ms": float(math.exp(pl))}
            for r, pm, pl in zip(rows, pred_map, pred_lat, strict=True)
        ],
    }
