"""Measures: quantities of a screening that district rules set thresholds on.

A rule may cap, say, the route length inside road footprints plus green land. Such a
length is taken over the union of the selected features' zones, so where a pavement
overlaps the carriageway, or a road crosses a park, the shared metres count once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

from geo.screening import Conflict, Screening


def length_inside(screening: Screening, conflicts: Sequence[Conflict]) -> float:
    """Metres of route centreline inside the union of the conflicts' zones.

    Each conflict of a plain route (one simple open line) knows the spans of route
    inside its zone, so the length inside the union is the length of the merged spans,
    with no geometry work. Where a conflict has no spans (a route of several parts, or
    one that crosses or closes on itself) or they do not add up to its length, the
    zones are united and intersected.
    """
    if len(conflicts) == 1:
        return conflicts[0].length_m
    if not all(_spans_hold(c) for c in conflicts):
        if not conflicts:
            return 0.0
        zones = shapely.union_all([c.zone for c in conflicts])
        return float(screening.route.intersection(zones).length)
    total, reached = 0.0, -np.inf
    for low, high in sorted(span for c in conflicts for span in c.spans):
        if high > reached:
            total += high - max(low, reached)
            reached = high
    return total


def area_inside(screening: Screening, conflicts: Sequence[Conflict]) -> float:
    """Square metres of route footprint inside the union of the conflicts' zones."""
    if not conflicts:
        return 0.0
    if len(conflicts) == 1:
        return conflicts[0].area_m2
    zones = shapely.union_all([c.zone for c in conflicts])
    return float(screening.footprint.intersection(zones).area)


def _spans_hold(conflict: Conflict) -> bool:
    """Whether a conflict's spans add up to its length inside (to a micrometre a metre)."""
    if conflict.spans is None:
        return False
    spanned = sum(high - low for low, high in conflict.spans)
    return abs(spanned - conflict.length_m) <= 1e-6 * max(1.0, conflict.length_m)


def measure(screening: Screening, quantity: str, conflicts: Sequence[Conflict] | None) -> float:
    """A quantity over the selected conflicts, or over the whole route when None."""
    if conflicts is None:
        if quantity == "length_m":
            return screening.length_m
        if quantity == "area_m2":
            return screening.area_m2
        return float(len(screening.conflicts))
    if quantity == "length_m":
        return length_inside(screening, conflicts)
    if quantity == "area_m2":
        return area_inside(screening, conflicts)
    return float(len(conflicts))
