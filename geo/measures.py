"""Measures: quantities of a screening that district rules set thresholds on.

A rule may cap, say, the route length inside road footprints plus green land. Such a
length is taken over the union of the selected features' zones, so where a pavement
overlaps the carriageway, or a road crosses a park, the shared metres count once.
"""

from __future__ import annotations

from collections.abc import Sequence

import shapely

from geo.screening import Conflict, Screening


def length_inside(screening: Screening, conflicts: Sequence[Conflict]) -> float:
    """Metres of route centreline inside the union of the conflicts' zones."""
    if not conflicts:
        return 0.0
    zones = shapely.union_all([c.zone for c in conflicts])
    return float(screening.route.intersection(zones).length)


def area_inside(screening: Screening, conflicts: Sequence[Conflict]) -> float:
    """Square metres of route footprint inside the union of the conflicts' zones."""
    if not conflicts:
        return 0.0
    zones = shapely.union_all([c.zone for c in conflicts])
    return float(screening.footprint.intersection(zones).area)


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
