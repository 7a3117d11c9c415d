"""schemathesis against the app's own OpenAPI schema: no generated request gets a 5xx.

Requests are made in-process (ASGI) on the bundled district, with the admin key, so
the admin calls are exercised past their key check too. The run is bounded (a few
examples per operation) and seeded (a fixed seed, no example database).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from api.app import create_app
from api.settings import Settings

KEY = "schemathesis-admin-key-41c8"
ADMIN = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    import os

    # a database of its own: the decision listing and re-screening see only these runs
    database = tmp_path_factory.mktemp("schemathesis") / "records.sqlite"
    previous = os.environ.get("ROUTECHECK_DATABASE_URL")
    os.environ["ROUTECHECK_DATABASE_URL"] = f"sqlite:///{database}"
    try:
        app = create_app(settings=Settings(admin_key=KEY, tiles_url=""))
    finally:
        if previous is None:
            os.environ.pop("ROUTECHECK_DATABASE_URL", None)
        else:
            os.environ["ROUTECHECK_DATABASE_URL"] = previous
    return schemathesis.openapi.from_asgi("/openapi.json", app)


#: Examples per operation and generation mode (valid requests, and requests that break
#: the schema on purpose): a few seconds per operation on a slow machine.
EXAMPLES = 8
#: One fixed seed for every run, so that a run can be repeated case for case.
SEED = 20260930


def test_no_generated_request_gets_a_server_error(api_schema):
    # one hypothesis run per operation and mode, so that a failure names its operation
    # and the others still run; schemathesis' pytest plugin is not used, as it does not
    # work with the pytest this project tests with
    failures = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15  # the whole API, not an empty schema
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @seed(SEED)
            @settings(
                max_examples=EXAMPLES,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            )
            def call(case):
                case.call_and_validate(headers=ADMIN, checks=[not_a_server_error])

            try:
                call()
            except Unsatisfiable:
                # an operation with no parameter or body has no invalid request to make
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as exc:  # noqa: BLE001 — collect every operation's failure
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert failures == [], "\n\n".join(failures)
