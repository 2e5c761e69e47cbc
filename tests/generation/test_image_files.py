"""Generated files are private: the owner (and staff) only, through the app or nginx's internal location."""

import pytest
from django.urls import reverse

from tests.generation.media import make_image

pytestmark = pytest.mark.django_db

VIEWS = ["generation:image", "generation:image-file", "generation:image-thumbnail"]


def _body(r) -> bytes:
    return b"".join(r.streaming_content) if r.streaming else r.content


def test_it_serves_the_png_with_its_parameters_to_the_owner(client, alice):
    image = make_image(alice, prompt="a lighthouse")
    client.force_login(alice)
    r = client.get(reverse("generation:image-file", args=[image.code]))
    assert r.status_code == 200
    assert r["Content-Type"] == "image/png"
    assert "private" in r["Cache-Control"]
    body = _body(r)
    assert body.startswith(b"\x89PNG")
    assert b"parameters" in body and b"a lighthouse" in body

    r = client.get(reverse("generation:image-file", args=[image.code]), {"download": 1})
    assert r["Content-Disposition"] == f'attachment; filename="{image.code}.png"'
    assert _body(r) == body

    r = client.get(reverse("generation:image-thumbnail", args=[image.code]))
    assert r.status_code == 200
    assert _body(r)[8:12] == b"WEBP"


@pytest.mark.parametrize("view", VIEWS)
def test_it_answers_404_to_other_users(client, alice, bob, view):
    image = make_image(alice)
    client.force_login(bob)
    assert client.get(reverse(view, args=[image.code])).status_code == 404


@pytest.mark.parametrize("view", VIEWS)
def test_it_sends_anonymous_visitors_to_the_login_page(client, alice, view):
    image = make_image(alice)
    r = client.get(reverse(view, args=[image.code]))
    assert r.status_code == 302
    assert r.url.startswith(reverse("account_login"))


@pytest.mark.parametrize("view", VIEWS)
def test_staff_may_look(client, alice, bob, view):
    image = make_image(alice)
    bob.is_staff = True
    bob.save()
    client.force_login(bob)
    assert client.get(reverse(view, args=[image.code])).status_code == 200


def test_staff_see_no_owner_buttons(client, alice, bob):
    image = make_image(alice)
    bob.is_staff = True
    bob.save()
    client.force_login(bob)
    html = client.get(reverse("generation:image", args=[image.code])).content.decode()
    assert reverse("generation:trash-images") not in html
    assert reverse("generation:share-image", args=[image.code]) not in html
    assert reverse("generation:upscale-image", args=[image.code]) not in html


def test_it_lets_nginx_send_the_file(client, alice, charlie, settings):
    settings.MEDIA_ACCEL_REDIRECT = True
    image = make_image(alice)
    client.force_login(alice)
    r = client.get(reverse("generation:image-file", args=[image.code]))
    assert r.status_code == 200
    assert r["X-Accel-Redirect"] == f"/protected-media/{image.file.name}"
    assert r.content == b""
    assert "Content-Disposition" not in r

    r = client.get(reverse("generation:image-file", args=[image.code]), {"download": 1})
    assert r["Content-Disposition"] == f'attachment; filename="{image.code}.png"'
    assert r.content == b""

    r = client.get(reverse("generation:image-thumbnail", args=[image.code]))
    assert r["X-Accel-Redirect"] == f"/protected-media/{image.thumbnail.name}"
    assert r.content == b""

    client.force_login(charlie)
    r = client.get(reverse("generation:image-file", args=[image.code]))
    assert r.status_code == 404
    assert "X-Accel-Redirect" not in r


def test_it_answers_404_when_the_file_is_missing(client, alice):
    image = make_image(alice)
    image.file.storage.delete(image.file.name)
    client.force_login(alice)
    assert client.get(reverse("generation:image-file", args=[image.code])).status_code == 404
