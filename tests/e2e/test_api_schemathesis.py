"""schemathesis over the whole API (issue 16): generated requests, with an admin's token, never get a
server error nor an answer that breaks the documented schema. Examples are bounded to fit in CI."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.e2e.conftest import World

EXAMPLES = 6


def test_generated_requests_get_no_server_error_and_match_the_schema(world: World) -> None:
    """Every operation in turn (one world for all: building it hashes passwords); failures are listed."""
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", world.client.app)
    headers = world.auth("root")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

        try:
            check()
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:300]}")
    assert operations > 40
    assert failures == []
