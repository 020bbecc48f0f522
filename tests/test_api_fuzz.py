"""Schemathesis against the API's own OpenAPI schema: whatever a caller sends, no 500s."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET

from notifier.rules.clock import FixedClock
from notifier.store.apikeys import create_key
from notifier.web.api import create_app
from notifier.workflows.service import Service
from tests.conftest import T0, make_settings


@pytest.fixture
def fuzz_target(tmp_path: Path) -> Iterator[tuple[object, str]]:
    service = Service.build(make_settings(f"sqlite:///{tmp_path / 'fuzz.db'}", tmp_path), FixedClock(T0))
    service.migrate()
    with service.factory() as session, session.begin():
        key = create_key(session, "fuzz", service.clock.now())
    app = create_app(service)
    yield app, key
    service.engine.dispose()


def test_no_server_errors(fuzz_target: tuple[object, str]) -> None:
    app, key = fuzz_target
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 4  # the schema really lists the API

    # The API's POST routes take JSON bodies: each must declare one, or the fuzzer sends none and tests
    # nothing behind the route's parsing. Webhooks take the providers' bodies and stay out of it.
    posts = [op for op in operations if op.method.upper() == "POST" and not op.path.startswith("/webhooks/")]
    assert {op.path for op in posts} >= {
        "/api/v1/dossiers",
        "/api/v1/officers",
        "/api/v1/progress",
        "/api/v1/dossiers/{code}/apology",
        "/api/v1/dossiers/{code}/resolve",
        "/api/v1/feedback/{feedback_id}/answer",
    }
    assert [op.label for op in posts if "requestBody" not in op.definition.raw or not op.body] == []
    bodies: Counter[str] = Counter()

    def fuzz(operation, headers: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case) -> None:  # type: ignore[no-untyped-def]
            if case.body is not NOT_SET:
                bodies[operation.label] += 1
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        check()

    for operation in operations:
        fuzz(operation, {"Authorization": f"Bearer {key}"})  # behind the key check
        fuzz(operation, {})  # and in front of it
    # Every POST got bodies from the fuzzer (the resolve body is optional, so not every case has one).
    assert {op.label: bodies[op.label] >= 5 for op in posts} == {op.label: True for op in posts}
