"""POST/GET /api/v1/jobs, cancel, trash and restore."""

import base64
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken, Plan
from generation.models import Job
from tests.generation.helpers import params, registered_node, submit
from tests.generation.media import make_image, png_bytes

pytestmark = pytest.mark.django_db

URL = "/api/v1/jobs"


@pytest.fixture(autouse=True)
def node():
    return registered_node()


@pytest.fixture
def alice_token(alice):
    return ApiToken.issue(alice, "api")[1]


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _create(client, token, **overrides):
    return client.post(URL, json.dumps(params(**overrides)), content_type="application/json", headers=_h(token))


def test_it_creates_a_queued_job(client, alice, alice_token):
    r = _create(client, alice_token, negative_prompt="blurry")
    assert r.status_code == 201
    body = r.json()
    job = Job.objects.get(code=body["job"])
    assert job.owner == alice
    assert (job.prompt, job.negative_prompt, job.steps, job.seed) == ("a lighthouse at dusk", "blurry", 10, 1234)
    assert job.model == "v1-5-pruned-emaonly.safetensors [6ce0161689]"
    assert body["status"] == "queued"
    assert body["queue_position"] == 1
    assert body["eta_seconds"] > 0
    assert body["images"] == [] and body["deleted_at"] is None


def test_it_accepts_basic_auth_with_the_username_and_a_token(client, alice, alice_token):
    basic = base64.b64encode(f"alice:{alice_token}".encode()).decode()
    r = client.post(URL, json.dumps(params()), content_type="application/json", headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 201
    assert Job.objects.get().owner == alice


def test_it_needs_no_csrf_token(alice_token):
    r = _create(Client(enforce_csrf_checks=True), alice_token)
    assert r.status_code == 201


@pytest.mark.parametrize(
    "method,path",
    [
        ("post", URL),
        ("get", URL),
        ("get", f"{URL}/00000000-0000-0000-0000-000000000000"),
        ("post", f"{URL}/00000000-0000-0000-0000-000000000000/cancel"),
        ("delete", f"{URL}/00000000-0000-0000-0000-000000000000"),
        ("post", f"{URL}/00000000-0000-0000-0000-000000000000/restore"),
    ],
)
def test_it_requires_a_valid_token(client, alice, alice_token, method, path):
    row = ApiToken.objects.get()
    for headers in ({}, _h("sdp_wrong"), {"Authorization": "Token abc"}):
        r = getattr(client, method)(path, headers=headers)
        assert r.status_code == 401
        assert r.json()["error"] == "unauthorized"
        assert r["WWW-Authenticate"].startswith("Bearer")
    row.delete()  # revoked
    r = getattr(client, method)(path, headers=_h(alice_token))
    assert r.status_code == 401
    assert r.json() == {"error": "unauthorized", "message": r.json()["message"], "field": None}


def test_it_refuses_the_token_of_a_deactivated_account(client, alice, alice_token):
    alice.is_active = False
    alice.save()
    assert client.get(URL, headers=_h(alice_token)).status_code == 401


def test_it_ignores_a_website_session(client, alice):
    client.force_login(alice)
    assert client.get(URL).status_code == 401


@pytest.mark.parametrize(
    "overrides,field,fragment",
    [
        ({"steps": 0}, "steps", "greater than or equal to 1"),
        ({"steps": "many"}, "steps", "valid integer"),
        ({"width": 500}, "width", "multiple of 8"),
        ({"seed": 2**32}, "seed", "less than or equal to"),
        ({"model": "no-such-model"}, "model", "Unknown model no-such-model"),
        ({"sampler_name": "k_euler"}, "sampler_name", "Unknown sampler k_euler"),
        ({"prompt": None}, "prompt", ""),
        ({"kind": "upscale"}, "kind", "txt2img"),
        ({"kind": "img2img"}, "init_image", "needs an initial image"),
        ({"kind": "img2img", "init_image": "%%%"}, "init_image", "base64"),
        ({"kind": "img2img", "init_image": base64.b64encode(b"not an image").decode()}, "init_image", "image"),
        ({"kind": "img2img", "source": "00000000-0000-0000-0000-000000000000"}, "source", "does not exist"),
        ({"source": "not-a-code"}, "source", "UUID"),
        ({"callback_url": "ftp://example.org/hook"}, "callback_url", "http"),
    ],
)
def test_it_names_the_invalid_field(client, alice_token, overrides, field, fragment):
    data = params(**overrides)
    data = {key: value for key, value in data.items() if value is not None}
    r = client.post(URL, json.dumps(data), content_type="application/json", headers=_h(alice_token))
    assert r.status_code == 400
    body = r.json()
    assert (body["error"], body["field"]) == ("invalid", field)
    assert fragment in body["message"]
    assert not Job.objects.exists()


def test_it_refuses_a_body_that_is_not_json(client, alice_token):
    r = client.post(URL, "prompt=cat", content_type="application/json", headers=_h(alice_token))
    assert r.status_code == 400
    assert r.json()["error"] == "invalid"


def test_it_refuses_a_body_over_the_upload_limit(client, settings, alice_token):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    r = _create(client, alice_token, negative_prompt="x" * 1000)
    assert r.status_code == 413
    assert (r.json()["error"], r.json()["field"]) == ("too_large", None)


def test_it_refuses_what_no_node_offers_with_a_general_error(client, alice_token, node):
    node.max_pixels = 512 * 512
    node.save()
    r = _create(client, alice_token, width=1024, height=1024)
    assert r.status_code == 400
    assert r.json()["field"] is None
    assert "larger than any node can generate" in r.json()["message"]


def test_it_creates_an_img2img_job_from_a_base64_image(client, alice_token):
    data_uri = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    r = _create(client, alice_token, kind="img2img", init_image=data_uri, denoising_strength=0.4)
    assert r.status_code == 201, r.json()
    job = Job.objects.get()
    assert (job.kind, job.denoising_strength) == ("img2img", 0.4)
    assert job.init_image.name.endswith(".png")
    with job.init_image.open("rb") as f:
        assert f.read() == png_bytes()


def test_it_creates_an_img2img_job_from_one_of_the_users_images(client, alice, bob, alice_token):
    image = make_image(alice)
    r = _create(client, alice_token, kind="img2img", source=str(image.code))
    assert r.status_code == 201, r.json()
    assert r.json()["source"] == str(image.code)
    # Another user's image is not found.
    bobs = make_image(bob)
    r = _create(client, alice_token, kind="img2img", source=str(bobs.code))
    assert (r.status_code, r.json()["field"]) == (400, "source")


def test_it_refuses_a_job_over_the_quota_with_429_and_retry_after(client, alice, alice_token):
    alice.plan = Plan.objects.create(name="Tiny", images_per_day=2, max_concurrent_jobs=5)
    alice.save()
    Job.objects.create(owner=alice, model="m", batch_size=2, status=Job.Status.SUCCEEDED, created_at=timezone.now() - timedelta(hours=20))
    r = _create(client, alice_token)
    assert r.status_code == 429
    body = r.json()
    assert (body["error"], body["field"]) == ("quota", None)
    assert "only 0 of your 2 images" in body["message"]
    assert 3 * 3600 < int(r["Retry-After"]) <= 4 * 3600 + 1
    assert Job.objects.count() == 1


def test_it_limits_the_submission_rate_per_user(client, settings, alice_token, bob):
    settings.SUBMIT_RATE_PER_USER = "1/m"
    assert _create(client, alice_token).status_code == 201
    r = _create(client, alice_token)
    assert (r.status_code, r.json()["error"]) == (429, "rate_limited")
    assert 1 <= int(r["Retry-After"]) <= 61
    # Counted per user, not for every token client together.
    assert _create(client, ApiToken.issue(bob, "api")[1]).status_code == 201


def test_it_lists_jobs_newest_first_in_pages(client, alice, bob, alice_token):
    old = submit(alice, prompt="one")
    Job.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    submit(alice, prompt="two")
    submit(alice, prompt="three")
    submit(bob, prompt="bob's")
    r = client.get(URL, {"limit": 2}, headers=_h(alice_token))
    assert r.status_code == 200
    page = r.json()
    assert page["count"] == 3
    assert [job["prompt"] for job in page["items"]] == ["three", "two"]
    assert page["previous"] is None
    assert "offset=2" in page["next"] and page["next"].startswith("http://testserver/api/v1/jobs?")
    page = client.get(page["next"], headers=_h(alice_token)).json()
    assert [job["prompt"] for job in page["items"]] == ["one"]
    assert page["next"] is None
    assert "offset=0" in page["previous"]


def _codes(r) -> list[str]:
    return [job["job"] for job in r.json()["items"]]


def test_it_filters_jobs_by_status_and_lists_the_trash_on_request(client, alice, alice_token):
    queued = submit(alice)
    done = submit(alice)
    Job.objects.filter(pk=done.pk).update(status=Job.Status.SUCCEEDED)
    trashed = submit(alice)
    Job.objects.filter(pk=trashed.pk).update(deleted_at=timezone.now())
    assert _codes(client.get(URL, {"status": "queued"}, headers=_h(alice_token))) == [str(queued.code)]
    assert _codes(client.get(URL, {"trashed": "true"}, headers=_h(alice_token))) == [str(trashed.code)]
    r = client.get(URL, {"status": "done"}, headers=_h(alice_token))
    assert (r.status_code, r.json()["field"]) == (400, "status")


@pytest.mark.parametrize("query,field", [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"offset": -1}, "offset")])
def test_it_refuses_bad_pagination(client, alice_token, query, field):
    r = client.get(URL, query, headers=_h(alice_token))
    assert (r.status_code, r.json()["field"]) == (400, field)


def test_it_shows_a_job(client, alice, alice_token):
    job = submit(alice, prompt="x" * 300)
    r = client.get(f"{URL}/{job.code}", headers=_h(alice_token))
    assert r.status_code == 200
    body = r.json()
    assert (body["job"], body["status"], body["queue_position"]) == (str(job.code), "queued", 1)
    assert body["prompt"] == "x" * 300  # in full, unlike the websocket's preview
    assert (body["steps"], body["seed"], body["sampler_name"]) == (10, 1234, "Euler a")


def test_it_shows_other_users_jobs_as_missing(client, alice, bob):
    job = submit(alice)
    token = ApiToken.issue(bob, "api")[1]
    for method, path in [("get", ""), ("post", "/cancel"), ("delete", ""), ("post", "/restore")]:
        r = getattr(client, method)(f"{URL}/{job.code}{path}", headers=_h(token))
        assert r.status_code == 404
        assert r.json() == {"error": "not_found", "message": "Not found.", "field": None}
    job.refresh_from_db()
    assert (job.status, job.deleted_at) == (Job.Status.QUEUED, None)


def test_it_answers_404_for_a_malformed_code_or_path(client, alice_token):
    for path in (f"{URL}/not-a-code", "/api/v1/no-such-thing"):
        r = client.get(path, headers=_h(alice_token))
        assert (r.status_code, r.json()["error"]) == (404, "not_found")


def test_it_answers_405_with_the_error_body(client, alice_token):
    r = client.put(URL, headers=_h(alice_token))
    assert r.status_code == 405
    assert r.json()["error"] == "method_not_allowed"
    assert "POST" in r["Allow"]


def test_it_cancels_a_queued_job_once(client, alice, alice_token):
    job = submit(alice)
    r = client.post(f"{URL}/{job.code}/cancel", headers=_h(alice_token))
    assert (r.status_code, r.json()["status"]) == (200, "cancelled")
    r = client.post(f"{URL}/{job.code}/cancel", headers=_h(alice_token))
    assert r.status_code == 409
    assert r.json()["error"] == "conflict"
    assert "already ended" in r.json()["message"]


def test_it_moves_a_job_to_the_trash_and_back(client, alice, alice_token):
    job = submit(alice)
    r = client.delete(f"{URL}/{job.code}", headers=_h(alice_token))
    assert r.status_code == 200
    body = r.json()
    # Still queued, so trashing cancelled it first.
    assert body["status"] == "cancelled"
    assert body["deleted_at"] and body["purge_at"]
    assert client.get(URL, headers=_h(alice_token)).json()["count"] == 0
    assert client.delete(f"{URL}/{job.code}", headers=_h(alice_token)).status_code == 409

    r = client.post(f"{URL}/{job.code}/restore", headers=_h(alice_token))
    assert r.status_code == 200
    assert r.json()["deleted_at"] is None
    assert client.get(URL, headers=_h(alice_token)).json()["count"] == 1
    r = client.post(f"{URL}/{job.code}/restore", headers=_h(alice_token))
    assert (r.status_code, r.json()["error"]) == (409, "conflict")
