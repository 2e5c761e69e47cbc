from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Plan
from generation.models import Image, Job
from tests.generation.helpers import registered_node, submit
from tests.generation.media import make_image, make_job

pytestmark = pytest.mark.django_db


def _post(client, name: str, *objs, **extra):
    return client.post(reverse(f"generation:{name}"), {"codes": [str(obj.code) for obj in objs], **extra})


def test_it_trashes_several_images_at_once_and_keeps_the_files(client, alice):
    a, b, c = make_image(alice), make_image(alice), make_image(alice)
    client.force_login(alice)
    r = _post(client, "trash-images", a, b, next=reverse("generation:gallery") + "?q=fox")
    assert r.status_code == 302
    assert r.url == reverse("generation:gallery") + "?q=fox"
    assert Image.objects.filter(deleted_at__isnull=False).count() == 2
    assert Image.objects.get(pk=c.pk).deleted_at is None
    assert a.file.storage.exists(a.file.name) and a.file.storage.exists(a.thumbnail.name)
    r = client.get(r.url)
    assert "Moved 2 images to the trash" in r.content.decode()


def test_it_ignores_other_users_images_in_the_list(client, alice, bob):
    mine, theirs = make_image(alice), make_image(bob)
    client.force_login(alice)
    r = _post(client, "trash-images", mine, theirs)
    assert r.status_code == 302
    assert Image.objects.get(pk=theirs.pk).deleted_at is None
    assert Image.objects.get(pk=mine.pk).deleted_at is not None


def test_it_answers_404_when_none_of_the_images_is_the_callers(client, alice, charlie):
    image = make_image(alice)
    client.force_login(charlie)
    assert _post(client, "trash-images", image).status_code == 404
    assert _post(client, "trash-jobs", image.job).status_code == 404
    image.job.deleted_at = image.deleted_at = timezone.now()
    image.job.save()
    image.save()
    assert _post(client, "restore-images", image).status_code == 404
    assert _post(client, "restore-jobs", image.job).status_code == 404
    image.refresh_from_db()
    assert image.deleted_at is not None


def test_it_asks_for_a_selection_when_nothing_is_selected(client, alice):
    client.force_login(alice)
    r = client.post(reverse("generation:trash-images"), {"codes": ["not-a-uuid"]}, follow=True)
    assert r.status_code == 200
    assert "Select one or more images first" in r.content.decode()


def test_it_refuses_get_and_anonymous_requests(client, alice):
    image = make_image(alice)
    assert _post(client, "trash-images", image).status_code == 302  # to the login page
    client.force_login(alice)
    assert client.get(reverse("generation:trash-images")).status_code == 405
    assert Image.objects.get(pk=image.pk).deleted_at is None


def test_it_trashes_a_job_with_its_images_and_restores_it(client, alice):
    job = make_job(alice)
    make_image(alice, job=job)
    make_image(alice, job=job, index=1)
    client.force_login(alice)
    assert _post(client, "trash-jobs", job).status_code == 302
    job.refresh_from_db()
    assert job.deleted_at is not None
    assert not Image.in_gallery(alice).exists()
    # The images keep their own state: they come back with the job.
    assert not Image.objects.filter(deleted_at__isnull=False).exists()

    assert _post(client, "restore-jobs", job).status_code == 302
    job.refresh_from_db()
    assert job.deleted_at is None
    assert Image.in_gallery(alice).count() == 2


def test_trashing_a_queued_job_cancels_it(client, alice):
    registered_node()
    job = submit(alice)
    client.force_login(alice)
    _post(client, "trash-jobs", job)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert job.deleted_at is not None


def test_restoring_an_image_of_a_trashed_job_restores_the_job(client, alice):
    job = make_job(alice, deleted_at=timezone.now())
    image = make_image(alice, job=job, deleted_at=timezone.now())
    client.force_login(alice)
    r = _post(client, "restore-images", image)
    assert r.status_code == 302
    assert r.url == reverse("generation:trash")
    job.refresh_from_db()
    image.refresh_from_db()
    assert job.deleted_at is None and image.deleted_at is None
    assert list(Image.in_gallery(alice)) == [image]


def test_the_trash_page_lists_trashed_things_with_their_purge_dates(client, alice, bob):
    Plan.objects.filter(is_default=True).update(retention_days=3)
    deleted = timezone.now() - timedelta(days=1)
    image = make_image(alice, prompt="trashed alone", deleted_at=deleted)
    job = make_job(alice, prompt="trashed job", deleted_at=deleted)
    make_image(alice, job=job)
    make_image(alice, prompt="still in the gallery")
    make_image(bob, prompt="bobs trash", deleted_at=deleted)
    client.force_login(alice)

    r = client.get(reverse("generation:trash"))
    assert r.status_code == 200
    assert [i.code for i in r.context["images"]] == [image.code]
    assert [j.code for j in r.context["jobs"]] == [job.code]
    assert r.context["images"][0].purge_at == deleted + timedelta(days=3)
    assert r.context["jobs"][0].purge_at == deleted + timedelta(days=3)
    html = r.content.decode()
    assert "trashed job" in html
    assert "bobs trash" not in html
    assert "still in the gallery" not in html
    assert reverse("generation:restore-jobs") in html
    assert f'form="restore-{image.code}"' in html


def test_the_trash_page_runs_a_constant_number_of_queries(client, alice, django_assert_max_num_queries):
    deleted = timezone.now()
    for _ in range(3):
        job = make_job(alice, deleted_at=deleted)
        make_image(alice, job=job)
        make_image(alice, deleted_at=deleted)
    client.force_login(alice)
    client.get(reverse("generation:trash"))
    with django_assert_max_num_queries(7):
        client.get(reverse("generation:trash"))


def test_the_trash_page_requires_login(client):
    assert client.get(reverse("generation:trash")).status_code == 302


def test_a_second_click_changes_nothing_and_is_no_error(client, alice):
    image = make_image(alice)
    client.force_login(alice)
    _post(client, "trash-images", image)
    r = _post(client, "trash-images", image)
    assert r.status_code == 302
    _post(client, "restore-images", image)
    assert _post(client, "restore-images", image).status_code == 302
    assert Image.objects.get(pk=image.pk).deleted_at is None
