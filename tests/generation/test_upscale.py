import io

import pytest
from django.urls import reverse
from PIL import Image as PILImage

from accounts.models import Plan
from generation.models import Image, Job
from tests.generation.helpers import registered_node, submit
from tests.generation.media import make_image

pytestmark = pytest.mark.django_db


def _upscale(client, image, upscaler: str = "R-ESRGAN 4x+", factor: int = 2):
    return client.post(reverse("generation:upscale-image", args=[image.code]), {"upscaler": upscaler, "factor": factor})


def test_it_queues_an_upscale_job(client, alice, django_capture_on_commit_callbacks):
    registered_node()
    image = make_image(alice, prompt="a tower", size=(256, 192))
    client.force_login(alice)
    with django_capture_on_commit_callbacks() as callbacks:
        r = _upscale(client, image, "Lanczos", 4)
    assert r.status_code == 302
    assert r.url == reverse("generation:generate")
    job = Job.objects.get(kind=Job.Kind.UPSCALE)
    assert (job.owner, job.source, job.upscaler, job.upscale_factor) == (alice, image, "Lanczos", 4)
    assert (job.width, job.height) == (1024, 768)
    assert (job.model, job.prompt, job.status) == (image.job.model, "a tower", Job.Status.QUEUED)
    assert len(callbacks) == 1  # dispatch, after the commit
    assert "Upscale queued" in client.get(r.url).content.decode()


def test_it_refuses_a_result_larger_than_the_plan_allows(client, alice):
    registered_node()
    Plan.objects.filter(is_default=True).update(max_pixels=1024 * 1024)
    image = make_image(alice, size=(512, 512))
    client.force_login(alice)
    r = _upscale(client, image, factor=4)
    assert r.url == reverse("generation:image", args=[image.code])
    html = client.get(r.url).content.decode()
    assert "would be 2048×2048, larger than your plan allows (at most 1048576 pixels)" in html
    assert not Job.objects.filter(kind=Job.Kind.UPSCALE).exists()


def test_it_refuses_a_size_no_node_can_produce(client, alice):
    registered_node(max_pixels=512 * 512)
    image = make_image(alice, size=(512, 512))
    client.force_login(alice)
    r = _upscale(client, image)
    assert "larger than any node can produce" in client.get(r.url).content.decode()
    assert not Job.objects.filter(kind=Job.Kind.UPSCALE).exists()


def test_it_refuses_an_unknown_upscaler(client, alice):
    registered_node()
    image = make_image(alice)
    client.force_login(alice)
    r = _upscale(client, image, upscaler="SwinIR 4x")
    assert "Select a valid choice" in client.get(r.url).content.decode()
    assert not Job.objects.filter(kind=Job.Kind.UPSCALE).exists()


def test_it_refuses_when_the_quota_is_used_up(client, alice):
    registered_node()
    Plan.objects.filter(is_default=True).update(images_per_day=1)
    image = make_image(alice)  # its job used the one image of the day
    client.force_login(alice)
    r = _upscale(client, image)
    assert r.url == reverse("generation:image", args=[image.code])
    assert "images per 24 hours are left" in client.get(r.url).content.decode()
    assert not Job.objects.filter(kind=Job.Kind.UPSCALE).exists()


def test_it_answers_404_for_other_users_and_trashed_images(client, alice, charlie):
    registered_node()
    image = make_image(alice)
    client.force_login(charlie)
    assert _upscale(client, image).status_code == 404
    Image.objects.filter(pk=image.pk).update(deleted_at=image.created_at)
    client.force_login(alice)
    assert _upscale(client, image).status_code == 404
    assert not Job.objects.filter(kind=Job.Kind.UPSCALE).exists()


@pytest.mark.django_db(transaction=True)
def test_it_upscales_on_a_node_into_a_new_image(client, alice, cluster, worker):
    cluster(1)
    job = submit(alice, prompt="a tower at night")
    worker.wait()
    [original] = job.images.all()
    client.force_login(alice)
    _upscale(client, original)
    worker.wait()

    upscale = Job.objects.get(kind=Job.Kind.UPSCALE)
    assert upscale.status == Job.Status.SUCCEEDED, upscale.error
    [big] = upscale.images.all()
    assert upscale.source == original
    assert (big.width, big.height) == (128, 128)
    with big.file.open("rb") as f:
        png = PILImage.open(io.BytesIO(f.read()))
    assert png.size == (128, 128)
    assert png.info["parameters"] == original.infotext  # the download keeps the parameters
    r = client.get(reverse("generation:gallery"))
    assert {i.code for i in r.context["page"]} == {original.code, big.code}
