from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Plan
from tests.generation.helpers import registered_node
from tests.generation.media import make_image, make_job

pytestmark = pytest.mark.django_db


def test_it_shows_the_node_duration_and_created_time(client, alice):
    node = registered_node("gpu7")
    start = timezone.now() - timedelta(seconds=12)
    job = make_job(alice, node=node, started_at=start, finished_at=start + timedelta(seconds=4.5))
    image = make_image(alice, job=job)
    client.force_login(alice)
    r = client.get(reverse("generation:image", args=[image.code]))
    html = r.content.decode()
    assert "gpu7" in html
    assert "4.5 s" in html
    assert f'datetime="{image.created_at.isoformat()}"' in html or image.created_at.strftime("%Y") in html


def test_it_offers_the_owners_actions(client, alice):
    image = make_image(alice)
    client.force_login(alice)
    html = client.get(reverse("generation:image", args=[image.code])).content.decode()
    assert reverse("generation:trash-images") in html
    assert reverse("generation:upscale-image", args=[image.code]) in html
    assert "R-ESRGAN 4x+" in html and "Lanczos" in html
    assert reverse("generation:share-image", args=[image.code]) in html
    assert "kind=img2img&amp;source=" in html  # variations


def test_it_greys_out_factors_the_plan_does_not_allow(client, alice):
    Plan.objects.filter(is_default=True).update(max_pixels=1024 * 1024)
    image = make_image(alice, size=(256, 256))
    client.force_login(alice)
    r = client.get(reverse("generation:image", args=[image.code]))
    assert [(f["factor"], f["allowed"]) for f in r.context["factors"]] == [(2, True), (4, True)]
    assert "too large for your plan" not in r.content.decode()
    image = make_image(alice, size=(512, 512))
    r = client.get(reverse("generation:image", args=[image.code]))
    assert [(f["factor"], f["allowed"]) for f in r.context["factors"]] == [(2, True), (4, False)]
    assert "4× → 2048 × 2048 (too large for your plan)" in r.content.decode()


def test_a_trashed_image_shows_when_it_will_be_purged_and_a_restore_button(client, alice):
    image = make_image(alice, deleted_at=timezone.now())
    client.force_login(alice)
    r = client.get(reverse("generation:image", args=[image.code]))
    assert r.status_code == 200
    assert r.context["purge_at"] == image.deleted_at + timedelta(days=7)
    html = r.content.decode()
    assert "This image is in the trash. It will be deleted for good on" in html
    assert reverse("generation:restore-images") in html
    assert reverse("generation:upscale-image", args=[image.code]) not in html
    assert reverse("generation:share-image", args=[image.code]) not in html


def test_the_delete_button_moves_the_image_to_the_trash_and_goes_to_the_gallery(client, alice):
    image = make_image(alice)
    client.force_login(alice)
    r = client.post(reverse("generation:trash-images"), {"codes": [image.code], "next": reverse("generation:gallery")})
    assert r.url == reverse("generation:gallery")
    image.refresh_from_db()
    assert image.deleted_at is not None
