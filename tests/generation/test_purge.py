from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.models import Plan
from generation import purge
from generation.models import Image, Job
from generation.tasks import purge_trash as purge_task
from tests.generation.media import make_image, make_job, png_bytes

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def _files(image: Image) -> list[str]:
    return [image.file.name, image.thumbnail.name]


def _exist(names: list[str]) -> list[bool]:
    return [default_storage.exists(name) for name in names]


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """purge_trash with its after-commit file deletions run, as outside a test's transaction."""

    def run(**kwargs) -> purge.Counts:
        with django_capture_on_commit_callbacks(execute=True):
            return purge.purge_trash(**kwargs)

    return run


def test_it_purges_images_after_the_retention_and_keeps_younger_ones(alice, run):
    now = timezone.now()
    old = make_image(alice, deleted_at=now - 8 * DAY)
    young = make_image(alice, deleted_at=now - 6 * DAY)
    kept = make_image(alice)
    old_files = _files(old)
    assert _exist(old_files) == [True, True]

    counts = run()
    assert (counts.images, counts.jobs, counts.users, counts.files) == (1, 0, 0, 2)
    assert set(Image.objects.all()) == {young, kept}
    assert _exist(old_files) == [False, False]
    assert _exist(_files(young) + _files(kept)) == [True] * 4
    assert Job.objects.filter(pk=old.job_id).exists()  # the job was not trashed


def test_it_uses_the_retention_of_the_owners_plan(alice, bob, run):
    pro = Plan.objects.create(name="Pro", retention_days=30)
    bob.plan = pro
    bob.save()
    deleted = timezone.now() - 8 * DAY
    alices, bobs = make_image(alice, deleted_at=deleted), make_image(bob, deleted_at=deleted)
    run()
    assert list(Image.objects.all()) == [bobs]
    assert not Image.objects.filter(pk=alices.pk).exists()
    assert run(now=timezone.now() + 23 * DAY).images == 1


def test_it_falls_back_to_7_days_without_any_plan(alice, run):
    Plan.objects.all().delete()
    make_image(alice, deleted_at=timezone.now() - 6 * DAY)
    assert run().images == 0
    assert run(now=timezone.now() + 2 * DAY).images == 1


def test_it_purges_a_job_with_its_images_and_its_input_file(alice, run):
    job = make_job(alice, kind=Job.Kind.IMG2IMG, deleted_at=timezone.now() - 8 * DAY)
    job.init_image.save("input.png", ContentFile(png_bytes()))
    images = [make_image(alice, job=job), make_image(alice, job=job, index=1)]
    names = [job.init_image.name] + [name for image in images for name in _files(image)]
    assert names[0].startswith("inputs/")
    derived = make_job(alice, kind=Job.Kind.UPSCALE, source=images[0])

    counts = run()
    assert (counts.jobs, counts.files) == (1, 5)
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not Image.objects.exists()
    assert _exist(names) == [False] * 5
    derived.refresh_from_db()
    assert derived.source is None


def test_it_works_in_batches(alice, run):
    for _ in range(5):
        make_image(alice, deleted_at=timezone.now() - 8 * DAY)
    assert run(batch=2).images == 5
    assert not Image.objects.exists()


def test_a_dry_run_changes_nothing_and_reports_what_it_would_remove(alice, run):
    image = make_image(alice, deleted_at=timezone.now() - 8 * DAY)
    job = make_job(alice, deleted_at=timezone.now() - 8 * DAY)
    seen = []
    counts = run(dry_run=True, report=lambda kind, row: seen.append((kind, row.pk)))
    assert (counts.images, counts.jobs, counts.files) == (1, 1, 2)
    assert seen == [("image", image.pk), ("job", job.pk)]
    assert Image.objects.filter(pk=image.pk).exists() and Job.objects.filter(pk=job.pk).exists()
    assert _exist(_files(image)) == [True, True]


def test_it_purges_an_account_after_the_retention(alice, bob, run):
    mine = [make_image(alice), make_image(alice, deleted_at=timezone.now())]
    bobs = make_image(bob)
    get_user_model().objects.filter(pk=alice.pk).update(is_active=False, deletion_requested_at=timezone.now() - 6 * DAY)
    assert run().users == 0
    assert Image.objects.count() == 3

    counts = run(now=timezone.now() + 2 * DAY)
    assert (counts.users, counts.images, counts.files) == (1, 0, 4)
    assert not get_user_model().objects.filter(pk=alice.pk).exists()
    assert not Job.objects.filter(owner_id=alice.pk).exists()
    assert _exist([name for image in mine for name in _files(image)]) == [False] * 4
    assert list(Image.objects.all()) == [bobs]
    assert _exist(_files(bobs)) == [True, True]


def test_it_never_purges_an_active_account(alice, run):
    # Reactivated by hand in the admin, the deletion date left behind.
    make_image(alice)
    get_user_model().objects.filter(pk=alice.pk).update(deletion_requested_at=timezone.now() - 30 * DAY)
    assert run().users == 0
    assert Image.objects.filter(owner=alice).exists()


def test_it_finds_orphan_files_and_rows_with_missing_files(alice):
    image, broken = make_image(alice), make_image(alice)
    default_storage.delete(broken.file.name)
    stray = default_storage.save("images/u999/stray.png", ContentFile(b"x"))
    default_storage.save("thumbs/u999/stray.webp", ContentFile(b"x"))
    default_storage.save("elsewhere/kept.txt", ContentFile(b"x"))

    later = timezone.now() + 2 * purge.ORPHAN_GRACE
    orphans, missing = purge.find_orphans(now=later)
    assert orphans == [stray, "thumbs/u999/stray.webp"]
    assert missing == [(f"image {broken.code}", broken.file.name)]
    # Files younger than the grace may belong to a row about to be committed.
    assert purge.find_orphans()[0] == []

    assert purge.delete_orphans(orphans) == 2
    assert _exist(orphans) == [False, False]
    assert default_storage.exists("elsewhere/kept.txt")
    assert _exist(_files(image)) == [True, True]
    assert Image.objects.count() == 2  # rows are never deleted


@pytest.mark.django_db(transaction=True)  # the task recycles the connection, as q2 workers need
def test_the_daily_task_purges(alice):
    image = make_image(alice, deleted_at=timezone.now() - 8 * DAY)
    purge_task()
    assert not Image.objects.exists()
    assert _exist(_files(image)) == [False, False]


def test_the_purge_is_scheduled_daily():
    from django_q.models import Schedule

    from sdplatform.schedules import declared_schedules

    [task] = [task for task in declared_schedules() if task.name == "purge trash"]
    assert (task.func, task.schedule_type) == ("generation.tasks.purge_trash", Schedule.DAILY)
