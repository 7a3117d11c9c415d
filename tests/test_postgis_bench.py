"""A tiny run of the PostGIS benchmark, so the script the figures come from keeps
working: both sides screen the same routes and find the same conflicts."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_postgis.py"


@pytest.fixture
def bench():
    if not os.environ.get("ROUTECHECK_POSTGIS_DSN"):
        if os.environ.get("CI"):
            pytest.fail("ROUTECHECK_POSTGIS_DSN is not set in CI: .ci/run should start PostGIS")
        pytest.skip("ROUTECHECK_POSTGIS_DSN is not set; no PostGIS to benchmark against")
    spec = importlib.util.spec_from_file_location("bench_postgis", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_tiny_benchmark_run_agrees_on_every_conflict_set(bench, tmp_path):
    import psycopg

    schema = f"rc_bench_smoke_{os.getpid()}"
    args = ["--city", str(tmp_path / "city"), "--trees", "400", "--roads", "60",
            "--green", "15", "--routes", "40", "--batch-routes", "40", "--load-runs", "1",
            "--classify-routes", "2", "--schema", schema,
            "--json", str(tmp_path / "f.json")]  # fmt: skip
    try:
        figures = bench.main(args)
    finally:
        with psycopg.connect(os.environ["ROUTECHECK_POSTGIS_DSN"], autocommit=True) as db:
            db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    per_route = figures["per_route"]
    assert per_route["routes"] == 40
    assert per_route["conflict_sets_agree"] == 40, per_route["disagreements"]
    assert per_route["mean_conflicts"] > 0
    assert figures["batch"]["decided"] == 40
    assert figures["load"]["peak_rss_mb"] > 0
    assert (tmp_path / "f.json").exists()
