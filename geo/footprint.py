"""Footprints: the ground a route or a layer feature occupies.

A road or bridge footprint is its centreline buffered by half its width with flat
ends, so a road stops where its way stops. A route footprint is the route's
centreline buffered by half the work width with round ends, since a trench has no
square corners. A tree's protection zone is a disc around the trunk whose radius is
half the crown diameter plus a margin (5 m for ancient and famous trees under the
default rules).
"""

from __future__ import annotations

import math
import re

import shapely
from shapely import Geometry
from shapely.geometry.base import BaseGeometry

#: Segments per quarter circle when a disc or a round end is turned into a polygon.
#: 16 keeps the polygon within 0.2 % of the true radius; distances that decide a
#: conflict are computed exactly, so this only affects reported areas and the map.
QUAD_SEGMENTS = 16

_WIDTH_NUMBER = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(m|metres?|meters?)?\s*$", re.IGNORECASE)


def parse_width(value: object) -> float | None:
    """Return a width tag in metres, or None when it does not parse.

    Accepts plain numbers and "7 m", "7.5m", "3,5". Feet, ranges and lists are not
    guessed at: a width that does not parse falls back to the next width rule.
    """
    if value is None:
        return None
    if isinstance(value, int | float):
        width = float(value)
    else:
        match = _WIDTH_NUMBER.match(str(value))
        if not match:
            return None
        width = float(match.group(1).replace(",", "."))
    if not math.isfinite(width) or width <= 0:
        return None
    return width


def road_footprint(centreline: BaseGeometry, width_m: float) -> Geometry:
    """Buffer a road or bridge centreline by half its width with flat ends."""
    if width_m <= 0:
        raise ValueError(f"road width must be positive, got {width_m}")
    return centreline.buffer(width_m / 2, cap_style="flat", quad_segs=QUAD_SEGMENTS)


def route_footprint(route, work_width_m: float):
    """Buffer a route centreline (or an array of them) by half the work width, round ends."""
    if work_width_m <= 0:
        raise ValueError(f"work width must be positive, got {work_width_m}")
    return shapely.buffer(route, work_width_m / 2, quad_segs=QUAD_SEGMENTS)


def protection_radius(crown_diameter_m: float, margin_m: float = 0.0) -> float:
    """Radius of a tree's protection zone: half its crown plus a margin."""
    if crown_diameter_m <= 0:
        raise ValueError(f"crown diameter must be positive, got {crown_diameter_m}")
    return crown_diameter_m / 2 + margin_m
