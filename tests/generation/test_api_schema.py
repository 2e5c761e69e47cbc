"""The OpenAPI schema at /api/v1/openapi.json and the docs at /api/v1/docs."""

import pytest

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def schema(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    return r.json()


def test_it_describes_every_operation_with_its_responses_and_security(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "sdplatform API"
    schemes = schema["components"]["securitySchemes"]
    assert schemes["BearerToken"] == {"type": "http", "scheme": "bearer"}
    assert schemes["BasicToken"] == {"type": "http", "scheme": "basic"}
    operations = [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items() if method in METHODS]
    assert len(operations) == 17
    ids = set()
    for path, method, op in operations:
        assert path.startswith("/api/v1/")
        assert op["operationId"] not in ids
        ids.add(op["operationId"])
        assert op["summary"] and op["tags"]
        assert op["security"] == [{"BearerToken": []}, {"BasicToken": []}]
        assert any(code.startswith("2") for code in op["responses"]), (method, path)
        for code, response in op["responses"].items():
            if code.startswith("4"):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (method, path, code)
        assert "401" in op["responses"]


def test_it_defines_the_error_body(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"error", "message", "field"}
    assert set(error["required"]) == {"error", "message", "field"}


def test_it_documents_the_paths_and_request_body(schema):
    paths = schema["paths"]
    assert set(paths["/api/v1/jobs/{code}"]) == {"get", "delete"}
    assert set(paths["/api/v1/jobs"]) == {"get", "post"}
    body = paths["/api/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    job_in = schema["components"]["schemas"][body.rsplit("/", 1)[-1]]
    assert {"prompt", "model", "sampler_name"} <= set(job_in["required"])
    assert "callback_url" in job_in["properties"] and "init_image" in job_in["properties"]
    assert paths["/api/v1/images/{code}/file"]["get"]["responses"]["200"]["content"] == {"image/png": {"schema": {"type": "string", "format": "binary"}}}
    assert "/api/v1/nodes" in paths and "403" in paths["/api/v1/nodes"]["get"]["responses"]


def test_it_serves_the_interactive_docs(client):
    r = client.get("/api/v1/docs")
    assert r.status_code == 200
    assert b"swagger" in r.content.lower()
    assert b"/api/v1/openapi.json" in r.content
