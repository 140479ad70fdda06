"""Pareto tools on (mAP up, latency down): dominance, NSGA-II ranks with crowding, and 2-D hypervolume."""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = tuple[float, float]  # (accuracy to maximize, cost to minimize)


def dominates(a: Point, b: Point) -> bool:
    """``a`` is at least as good in both objectives and strictly better in one."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def non_dominated_ranks(points: Sequence[Point]) -> list[int]:
    """NSGA-II front index of each point: 0 for the Pareto front, 1 for the front once 0 is removed, ..."""
    n = len(points)
    dominated_by: list[list[int]] = [[] for _ in range(n)]
    counts = [0] * n
    for i in range(n):
        for j in range(n):
            if i != j and dominates(points[i], points[j]):
                dominated_by[i].append(j)
            elif i != j and dominates(points[j], points[i]):
                counts[i] += 1
    ranks = [0] * n
    front = [i for i in range(n) if counts[i] == 0]
    rank = 0
    while front:
        following: list[int] = []
        for i in front:
            ranks[i] = rank
            for j in dominated_by[i]:
                counts[j] -= 1
                if counts[j] == 0:
                    following.append(j)
        front, rank = following, rank + 1
    return ranks


def crowding_distances(points: Sequence[Point], ranks: Sequence[int]) -> list[float]:
    """NSGA-II crowding distance within each front: larger means a less crowded, more valuable point."""
    distance = [0.0] * len(points)
    for rank in set(ranks):
        members = [i for i, r in enumerate(ranks) if r == rank]
        for axis in (0, 1):
            ordered = sorted(members, key=lambda i: points[i][axis])
            low, high = points[ordered[0]][axis], points[ordered[-1]][axis]
            distance[ordered[0]] = distance[ordered[-1]] = math.inf
            if high == low:
                continue
            for k in range(1, len(ordered) - 1):
                distance[ordered[k]] += (points[ordered[k + 1]][axis] - points[ordered[k - 1]][axis]) / (high - low)
    return distance


def pareto_front(points: Sequence[Point]) -> list[int]:
    """Indices of the non-dominated points, by increasing cost."""
    ranks = non_dominated_ranks(points)
    return sorted((i for i, r in enumerate(ranks) if r == 0), key=lambda i: (points[i][1], -points[i][0]))


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """Area dominated by ``points`` and bounded by ``reference`` (accuracy floor, cost ceiling)."""
    inside = [(acc, cost) for acc, cost in points if acc > reference[0] and cost < reference[1]]
    area, best_acc = 0.0, reference[0]
    for acc, cost in sorted(inside, key=lambda p: p[1]):  # sweep by increasing cost
        if acc > best_acc:
            area += (acc - best_acc) * (reference[1] - cost)
            best_acc = acc
    return area
