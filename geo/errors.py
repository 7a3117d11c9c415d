"""Errors routecheck raises for input it cannot screen.

Each error carries a stable machine code and a message safe to show the person who
sent the input; the CLI prints it and exits 2, and the HTTP service maps the class to
a status once, at its edge.
"""

from __future__ import annotations


class RoutecheckError(Exception):
    """Base of every error routecheck raises on purpose."""

    code = "ROUTECHECK_ERROR"

    def __init__(self, message: str, *, code: str | None = None, where: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.where = where

    def __str__(self) -> str:
        if self.where:
            return f"{self.message} (at {self.where})"
        return self.message


class RouteInputError(RoutecheckError, ValueError):
    """The route geometry is malformed, empty or not a line."""

    code = "INVALID_ROUTE"


class FactsError(RoutecheckError, ValueError):
    """The project facts (voltage, customer type, …) are missing or invalid."""

    code = "INVALID_FACTS"


class CrsError(RoutecheckError, ValueError):
    """The declared coordinate reference system is unknown or cannot be used."""

    code = "INVALID_CRS"


class OutsideCoverageError(RoutecheckError, ValueError):
    """The route leaves the area the district's layers cover."""

    code = "ROUTE_OUTSIDE_COVERAGE"


class RulesError(RoutecheckError, ValueError):
    """A district's rule file is invalid or cannot decide these facts."""

    code = "INVALID_RULES"


class NoTrackError(RulesError):
    """The district's rules put no track on these project facts."""

    code = "NO_TRACK"


class DistrictError(RoutecheckError):
    """A district's settings or layer store are missing or broken."""

    code = "INVALID_DISTRICT"
