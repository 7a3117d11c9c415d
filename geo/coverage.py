"""Coverage: a route may only be screened where the district's layers are complete.

Outside the coverage polygon the layers hold nothing, so a route there would screen
as conflict-free and take the lightest track. Such a route is an error, and the error
says how far outside it lies.
"""

from __future__ import annotations

import shapely
from shapely import MultiLineString
from shapely.geometry.base import BaseGeometry

from geo.errors import OutsideCoverageError


def grown_coverage(coverage: BaseGeometry, tolerance_m: float) -> BaseGeometry:
    """The coverage grown by the touch tolerance and prepared: what routes are tested
    against. Made once per district, since growing a city's polygon costs more than
    the test."""
    grown = coverage.buffer(tolerance_m)
    shapely.prepare(grown)
    return grown


def check_coverage(
    route: MultiLineString,
    coverage: BaseGeometry,
    district: str,
    tolerance_m: float,
    grown: BaseGeometry | None = None,
) -> None:
    """Raise OutsideCoverageError unless the route lies within the coverage polygon.

    `grown` is `grown_coverage(coverage, tolerance_m)`, where the caller keeps one.
    """
    if grown is None:
        grown = grown_coverage(coverage, tolerance_m)
    if grown.covers(route):
        return

    if not coverage.intersects(route):
        distance = route.distance(coverage)
        raise OutsideCoverageError(
            f"the route lies {distance:,.0f} m outside the coverage of district {district}"
        )
    outside = route.difference(coverage).length
    raise OutsideCoverageError(
        f"{outside:,.1f} m of the route's {route.length:,.1f} m lie outside the coverage "
        f"of district {district}; its layers hold nothing there",
        code="ROUTE_LEAVES_COVERAGE",
    )
