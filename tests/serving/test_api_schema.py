"""The web API fuzzed from its own OpenAPI schema (Schemathesis): every
request the schema allows, and many it does not, gets a JSON answer with
a status and a body the schema states; never a 5xx; and the server still
answers afterwards."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from schemathesis.specs.openapi.checks import positive_data_acceptance

from catunet.serving.segmenter import Segmenter
from catunet.serving.web.app import create_app


@pytest.fixture(scope="module")
def app(tiny_model):
    segmenter = Segmenter(tiny_model, runtime="keras")
    yield create_app(segmenter)
    segmenter.close()


@pytest.mark.slow
def test_every_answer_is_what_the_schema_says(app):
    """Each operation of ``/openapi.json``, fuzzed with Hypothesis examples
    drawn from its own schema (Schemathesis's strategies; its pytest
    plugin is not used: pytest 9 is newer than it knows). Every check but
    one: the schema says "a file", which any bytes are, while the API
    rightly refuses bytes that are not a photo (415)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{o.method.upper()} {o.path}" for o in operations} == {
        "GET /api/health", "POST /api/segment"}
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def answers(case):
            response = case.call_and_validate(
                excluded_checks=[positive_data_acceptance])
            assert response.status_code < 500, response.text
            kind = response.headers["content-type"]
            kind = kind[0] if isinstance(kind, list) else kind
            assert kind.startswith("application/json"), kind
            response.json()

        answers()


@pytest.mark.slow
def test_the_server_still_answers_after_the_fuzzing(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        assert client.get("/api/health").json()["status"] == "ok"
