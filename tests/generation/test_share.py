import pytest
from django.urls import reverse
from django.utils import timezone

from generation.models import Image
from tests.generation.media import make_image

pytestmark = pytest.mark.django_db


def _share(client, image):
    return client.post(reverse("generation:share-image", args=[image.code]))


def _shared(client, token: str):
    return client.get(reverse("generation:shared-image", args=[token])), client.get(reverse("generation:shared-image-file", args=[token]))


def test_it_shows_a_shared_image_to_anyone(client, alice):
    image = make_image(alice, prompt="a shared lighthouse")
    client.force_login(alice)
    r = _share(client, image)
    assert r.url == reverse("generation:image", args=[image.code])
    token = Image.objects.get(pk=image.pk).share_token
    assert len(token) == 32
    assert f"/s/{token}/" in client.get(r.url).content.decode()

    client.logout()
    page, file = _shared(client, token)
    assert page.status_code == 200
    assert page["X-Robots-Tag"] == "noindex"
    html = page.content.decode()
    assert "a shared lighthouse" in html
    assert reverse("generation:shared-image-file", args=[token]) in html
    assert reverse("generation:image", args=[image.code]) not in html  # no links into the owner's pages
    assert reverse("generation:trash-images") not in html
    assert "Node" not in html  # which GPU host ran it is the operator's business
    assert file.status_code == 200
    assert b"".join(file.streaming_content).startswith(b"\x89PNG")


def test_sharing_twice_keeps_the_token_until_turned_off(client, alice):
    image = make_image(alice)
    client.force_login(alice)
    _share(client, image)
    first = Image.objects.get(pk=image.pk).share_token
    _share(client, image)
    assert Image.objects.get(pk=image.pk).share_token == first

    client.post(reverse("generation:unshare-image", args=[image.code]))
    assert Image.objects.get(pk=image.pk).share_token is None
    page, file = _shared(client, first)
    assert page.status_code == file.status_code == 404

    _share(client, image)
    assert Image.objects.get(pk=image.pk).share_token not in (None, first)


def test_a_trashed_image_is_not_shown(client, alice):
    image = make_image(alice)
    token = image.share()
    Image.objects.filter(pk=image.pk).update(deleted_at=timezone.now())
    page, file = _shared(client, token)
    assert page.status_code == file.status_code == 404


def test_an_account_pending_deletion_shares_nothing(client, alice):
    token = make_image(alice).share()
    alice.is_active = False
    alice.save()
    page, file = _shared(client, token)
    assert page.status_code == file.status_code == 404


def test_an_unknown_token_is_404(client):
    page, file = _shared(client, "x" * 32)
    assert page.status_code == file.status_code == 404


def test_only_the_owner_can_turn_sharing_on_or_off(client, alice, bob):
    image = make_image(alice)
    bob.is_staff = True  # staff may look, not share
    bob.save()
    client.force_login(bob)
    assert _share(client, image).status_code == 404
    assert Image.objects.get(pk=image.pk).share_token is None
    token = image.share()
    assert client.post(reverse("generation:unshare-image", args=[image.code])).status_code == 404
    assert Image.objects.get(pk=image.pk).share_token == token


def test_sharing_requires_login_and_post(client, alice):
    image = make_image(alice)
    assert _share(client, image).status_code == 302
    client.force_login(alice)
    assert client.get(reverse("generation:share-image", args=[image.code])).status_code == 405
    assert Image.objects.get(pk=image.pk).share_token is None


def test_it_serves_a_shared_file_through_nginx(client, alice, settings):
    settings.MEDIA_ACCEL_REDIRECT = True
    image = make_image(alice)
    token = image.share()
    r = client.get(reverse("generation:shared-image-file", args=[token]), {"download": 1})
    assert r["X-Accel-Redirect"] == f"/protected-media/{image.file.name}"
    assert r["Content-Disposition"] == f'attachment; filename="{image.code}.png"'
    assert r.content == b""
