"""schemathesis generates requests from the service's OpenAPI schema: never a 5xx."""

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from eqn.model.estimator import EQN  # noqa: E402
from eqn.service import ServiceLimits, create_app  # noqa: E402


def test_no_server_errors_on_generated_requests(tiny_model_dir):
    limits = ServiceLimits(max_texts=8, max_upload_bytes=20_000, max_upload_rows=50)
    app = create_app(model=EQN.load(tiny_model_dir), limits=limits)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    statuses: dict[str, set[int]] = {}
    for operation in schema.get_all_operations():
        endpoint = operation.ok()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=endpoint.as_strategy())
        def check(case):
            response = case.call()
            statuses.setdefault(f"{case.method.lower()} {case.path}", set()).add(
                response.status_code
            )

        check()
    assert {"post /v1/annotate", "post /v1/annotate/csv", "post /v1/explain"} <= set(statuses)
    errors = {name: codes for name, codes in statuses.items() if max(codes) >= 500}
    assert not errors, errors
