"""The API's reference and its answers outside any endpoint, over real HTTP: the OpenAPI document
declares the bearer scheme, the problem responses and Idempotency-Key; the interactive reference
is served from our own static files; unknown paths, wrong methods and our own failures are
problem documents without a trace."""

from types import SimpleNamespace

import pytest
import requests

from .test_api_auth import assert_problem, bearer
from .test_keys import make_key, make_owner


@pytest.fixture
def live(transactional_db, asgi_server):
    return SimpleNamespace(url=asgi_server)


def test_the_openapi_document_declares_bearer_keys_problems_and_idempotency(live):
    document = requests.get(f"{live.url}/api/v1/openapi.json", timeout=10).json()

    schemes = document["components"]["securitySchemes"]
    assert list(schemes.values()) == [{"type": "http", "scheme": "bearer"}]
    assert "Problem" in document["components"]["schemas"]
    operations = [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()]
    assert {"/api/v1/do-not-call", "/api/v1/credits/balance", "/api/v1/credits/ledger"} <= set(document["paths"])
    for path, method, operation in operations:
        assert operation["security"], (path, method)
        for status in ("401", "403", "404", "422", "429", "500"):
            content = operation["responses"][status]["content"]
            assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
        headers = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
        assert ("Idempotency-Key" in headers) == (method == "post"), (path, method)


def test_the_interactive_reference_uses_our_own_static_files(live):
    page = requests.get(f"{live.url}/api/v1/docs", timeout=10)

    assert page.status_code == 200
    assert "/static/ninja/swagger-ui-bundle.js" in page.text and "/static/ninja/swagger-ui-init.js" in page.text
    assert "cdn" not in page.text.lower()
    assert requests.get(f"{live.url}/static/ninja/swagger-ui-bundle.js", timeout=10).status_code == 200


def test_unknown_paths_and_wrong_methods_are_problems(live):
    secret = make_key(make_owner("ada@example.com"))

    for method, path in [
        ("GET", "/api/v1/"),
        ("GET", "/api/v1/nothing-here"),
        ("POST", "/api/v1/agents/1/nope"),
        ("GET", "/api/v1/do-not-call/"),
    ]:
        response = requests.request(method, f"{live.url}{path}", headers=bearer(secret), timeout=10)
        assert "no such endpoint" in assert_problem(response, 404)["detail"]

    wrong = requests.put(f"{live.url}/api/v1/do-not-call", headers=bearer(secret), json={}, timeout=10)
    assert_problem(wrong, 405)
    assert set(wrong.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}


def test_our_own_failure_is_a_500_problem_without_a_trace(live, settings):
    """Redis out of reach (the rate limits count there): the request fails on our side."""
    secret = make_key(make_owner("ada@example.com"))
    settings.RQ_QUEUES = {name: {"URL": "redis://127.0.0.1:9/0", "DEFAULT_TIMEOUT": 5} for name in settings.RQ_QUEUES}

    response = requests.get(f"{live.url}/api/v1/credits/balance", headers=bearer(secret), timeout=30)

    body = assert_problem(response, 500)
    assert "ConnectionError" not in response.text and "redis" not in response.text.lower()
    assert body["title"] == "Server error"
