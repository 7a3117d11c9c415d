"""Shared fixtures: the default rules and the bundled sample district."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RULES = ROOT / "layers" / "rules" / "default.toml"


@pytest.fixture(scope="session")
def default_rules():
    from layers.district import load_rules

    return load_rules(DEFAULT_RULES)


@pytest.fixture(scope="session")
def district():
    from layers.district import load_district

    return load_district()
