from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from generation import purge
from generation.models import Image
from tests.generation.media import make_image

pytestmark = pytest.mark.django_db


def _purge(*args: str) -> str:
    out = StringIO()
    call_command("purge", *args, stdout=out)
    return out.getvalue()


def test_a_dry_run_lists_what_it_would_remove_and_changes_nothing(alice):
    old = make_image(alice, deleted_at=timezone.now() - timedelta(days=8))
    make_image(alice, deleted_at=timezone.now())
    out = _purge("--dry-run")
    assert f"Would remove image {old.code} of alice (in the trash since" in out
    assert "Would remove: 1 image(s), 0 job(s), 0 account(s), 2 file(s)." in out
    assert Image.objects.count() == 2
    assert default_storage.exists(old.file.name)


def test_it_removes_rows_and_files(alice, django_capture_on_commit_callbacks):
    old = make_image(alice, deleted_at=timezone.now() - timedelta(days=8))
    with django_capture_on_commit_callbacks(execute=True):
        out = _purge()
    assert f"Removed image {old.code}" in out
    assert "Removed: 1 image(s)" in out
    assert not Image.objects.filter(pk=old.pk).exists()
    assert not default_storage.exists(old.file.name)


def test_it_lists_and_deletes_orphans(alice, monkeypatch):
    monkeypatch.setattr(purge, "ORPHAN_GRACE", timedelta(0))
    image = make_image(alice)
    stray = default_storage.save("inputs/2026/11/stray.png", ContentFile(b"x"))
    default_storage.delete(image.thumbnail.name)

    out = _purge("--orphans", "--dry-run")
    assert f"Orphan file: {stray}" in out
    assert f"Missing file: {image.thumbnail.name} (image {image.code})" in out
    assert "1 orphan file(s), 1 row(s) with a missing file; nothing deleted (dry run)." in out
    assert default_storage.exists(stray)

    out = _purge("--orphans")
    assert "1 file(s) deleted" in out
    assert not default_storage.exists(stray)
    assert Image.objects.filter(pk=image.pk).exists()
