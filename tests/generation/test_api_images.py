"""GET /api/v1/images, an image, its file and thumbnail, trash and restore."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import ApiToken
from generation.models import Image, Job
from tests.generation.media import make_image, make_job

pytestmark = pytest.mark.django_db

URL = "/api/v1/images"
NOBODY = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def alice_token(alice):
    return ApiToken.issue(alice, "api")[1]


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _body(r) -> bytes:
    return b"".join(r.streaming_content) if r.streaming else r.content


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", URL),
        ("get", f"{URL}/{NOBODY}"),
        ("get", f"{URL}/{NOBODY}/file"),
        ("get", f"{URL}/{NOBODY}/thumbnail"),
        ("delete", f"{URL}/{NOBODY}"),
        ("post", f"{URL}/{NOBODY}/restore"),
    ],
)
def test_it_requires_a_valid_token(client, alice, alice_token, method, path):
    assert getattr(client, method)(path).status_code == 401
    ApiToken.objects.all().delete()
    r = getattr(client, method)(path, headers=_h(alice_token))
    assert (r.status_code, r.json()["error"]) == (401, "unauthorized")


def test_it_lists_the_gallery_newest_first_in_pages(client, alice, bob, alice_token):
    now = timezone.now()
    images = [make_image(alice, prompt=f"p{i}", created_at=now - timedelta(minutes=i)) for i in range(3)]
    make_image(bob)
    make_image(alice, deleted_at=now)
    make_image(alice, job=make_job(alice, deleted_at=now))
    r = client.get(URL, {"limit": 2}, headers=_h(alice_token))
    assert r.status_code == 200
    page = r.json()
    assert page["count"] == 3
    assert [item["image"] for item in page["items"]] == [str(images[0].code), str(images[1].code)]
    assert page["previous"] is None
    page = client.get(page["next"], headers=_h(alice_token)).json()
    assert [item["image"] for item in page["items"]] == [str(images[2].code)]
    assert page["next"] is None


def test_it_lists_the_trash_and_one_jobs_images_on_request(client, alice, alice_token):
    now = timezone.now()
    by_itself = make_image(alice, deleted_at=now)
    with_job = make_image(alice, job=make_job(alice, deleted_at=now))
    kept = make_image(alice)
    r = client.get(URL, {"trashed": "true"}, headers=_h(alice_token))
    assert {item["image"] for item in r.json()["items"]} == {str(by_itself.code), str(with_job.code)}
    r = client.get(URL, {"job": str(kept.job.code)}, headers=_h(alice_token))
    assert [item["image"] for item in r.json()["items"]] == [str(kept.code)]


def test_it_shows_an_image_with_urls_that_work_with_the_token(client, alice, alice_token):
    image = make_image(alice, prompt="a lighthouse")
    r = client.get(f"{URL}/{image.code}", headers=_h(alice_token))
    assert r.status_code == 200
    body = r.json()
    assert (body["image"], body["job"], body["seed"], body["width"]) == (str(image.code), str(image.job.code), 1234, 64)
    assert "a lighthouse" in body["infotext"]
    assert body["url"] == f"http://testserver/api/v1/images/{image.code}/file"
    assert body["page_url"] == f"http://testserver/images/{image.code}/"
    assert body["deleted_at"] is None

    r = client.get(body["url"], headers=_h(alice_token))
    assert (r.status_code, r["Content-Type"]) == (200, "image/png")
    assert "private" in r["Cache-Control"]
    assert _body(r).startswith(b"\x89PNG")
    r = client.get(body["url"], {"download": "true"}, headers=_h(alice_token))
    assert r["Content-Disposition"] == f'attachment; filename="{image.code}.png"'
    r = client.get(body["thumbnail_url"], headers=_h(alice_token))
    assert _body(r)[8:12] == b"WEBP"


def test_it_hands_files_to_nginx_in_production(client, alice, alice_token, settings):
    settings.MEDIA_ACCEL_REDIRECT = True
    image = make_image(alice)
    r = client.get(f"{URL}/{image.code}/file", headers=_h(alice_token))
    assert r["X-Accel-Redirect"] == f"/protected-media/{image.file.name}"


def test_it_shows_other_users_images_as_missing(client, alice, bob):
    image = make_image(alice)
    token = ApiToken.issue(bob, "api")[1]
    for method, path in [("get", ""), ("get", "/file"), ("get", "/thumbnail"), ("delete", ""), ("post", "/restore")]:
        r = getattr(client, method)(f"{URL}/{image.code}{path}", headers=_h(token))
        assert r.status_code == 404
        assert r.json() == {"error": "not_found", "message": "Not found.", "field": None}
    image.refresh_from_db()
    assert image.deleted_at is None


def test_it_moves_an_image_to_the_trash_and_back(client, alice, alice_token):
    image = make_image(alice)
    r = client.delete(f"{URL}/{image.code}", headers=_h(alice_token))
    assert r.status_code == 200
    assert r.json()["deleted_at"] and r.json()["purge_at"]
    assert client.get(URL, headers=_h(alice_token)).json()["count"] == 0
    assert client.delete(f"{URL}/{image.code}", headers=_h(alice_token)).status_code == 409

    r = client.post(f"{URL}/{image.code}/restore", headers=_h(alice_token))
    assert (r.status_code, r.json()["deleted_at"]) == (200, None)
    r = client.post(f"{URL}/{image.code}/restore", headers=_h(alice_token))
    assert (r.status_code, r.json()["error"]) == (409, "conflict")


def test_restoring_an_image_restores_its_trashed_job(client, alice, alice_token):
    image = make_image(alice, job=make_job(alice, deleted_at=timezone.now()))
    assert client.delete(f"{URL}/{image.code}", headers=_h(alice_token)).status_code == 409
    r = client.post(f"{URL}/{image.code}/restore", headers=_h(alice_token))
    assert (r.status_code, r.json()["deleted_at"]) == (200, None)
    assert Job.objects.get().deleted_at is None
    assert Image.in_gallery(alice).count() == 1
