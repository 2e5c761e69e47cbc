from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from generation import purge
from generation.models import Image, Job
from tests.generation.media import make_image

pytestmark = pytest.mark.django_db

URL = reverse("accounts:delete-account")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _reload(user):
    return get_user_model().objects.get(pk=user.pk)


def _log_in(client, login: str = "alice", password: str = "password"):
    return client.post(reverse("account_login"), {"login": login, "password": password})


def _user(client):
    return client.get(reverse("home")).context["user"]


def test_the_page_explains_what_happens(client, alice):
    client.force_login(alice)
    r = client.get(URL)
    assert r.status_code == 200
    html = r.content.decode()
    assert "deleted for good 7 days later" in html
    assert "Log in again before then" in html
    assert 'type="password"' in html


def test_it_requires_login(client):
    r = client.get(URL)
    assert r.status_code == 302
    assert r.url.startswith(reverse("account_login"))


def test_it_refuses_a_wrong_password(client, alice):
    client.force_login(alice)
    r = client.post(URL, {"password": "wrong"})
    assert r.status_code == 200
    assert "That is not your password." in r.content.decode()
    alice = _reload(alice)
    assert alice.is_active and alice.deletion_requested_at is None


def test_it_deactivates_logs_out_and_says_when_the_data_goes(client, alice):
    other_browser = Client()
    other_browser.force_login(alice)
    client.force_login(alice)
    r = client.post(URL, {"password": "password"})
    assert r.status_code == 302
    assert r.url == reverse("home")

    alice = _reload(alice)
    assert not alice.is_active
    assert timezone.now() - alice.deletion_requested_at < timedelta(minutes=1)
    r = client.get(reverse("home"))
    assert not r.context["user"].is_authenticated
    html = r.content.decode()
    assert "Your account is deactivated" in html
    assert str((alice.deletion_requested_at + timedelta(days=7)).year) in html
    assert "Log in again before then to cancel the deletion" in html
    # Every other session ends too: Django does not authenticate inactive users.
    assert not _user(other_browser).is_authenticated


def test_logging_in_again_cancels_the_deletion(client, alice):
    client.force_login(alice)
    client.post(URL, {"password": "password"})
    r = _log_in(client)
    assert r.status_code == 302
    assert r.url == reverse("generation:generate")
    alice = _reload(alice)
    assert alice.is_active and alice.deletion_requested_at is None
    r = client.get(reverse("home"))
    assert r.context["user"] == alice
    assert "Your account will not be deleted" in r.content.decode()


def test_logging_in_with_the_email_address_cancels_too(client, alice):
    get_user_model().objects.filter(pk=alice.pk).update(is_active=False, deletion_requested_at=timezone.now())
    r = _log_in(client, "alice@example.org")
    assert r.url == reverse("generation:generate")
    assert _reload(alice).is_active


def test_a_wrong_password_cancels_nothing(client, alice):
    get_user_model().objects.filter(pk=alice.pk).update(is_active=False, deletion_requested_at=timezone.now())
    r = _log_in(client, password="wrong")
    assert r.status_code == 200
    assert not _reload(alice).is_active
    assert not _user(client).is_authenticated


def test_after_the_retention_logging_in_is_refused(client, alice):
    get_user_model().objects.filter(pk=alice.pk).update(is_active=False, deletion_requested_at=timezone.now() - timedelta(days=8))
    r = _log_in(client)
    assert r.status_code == 302
    assert r.url == reverse("account_inactive")
    assert not _reload(alice).is_active
    assert not _user(client).is_authenticated


def test_an_inactive_account_without_a_deletion_stays_inactive(client, alice):
    get_user_model().objects.filter(pk=alice.pk).update(is_active=False)
    r = _log_in(client)
    assert r.url == reverse("account_inactive")
    assert not _reload(alice).is_active


def test_the_purge_removes_the_account_and_all_its_data_after_the_retention(client, alice, bob, django_capture_on_commit_callbacks):
    images = [make_image(alice), make_image(alice, deleted_at=timezone.now())]
    names = [name for image in images for name in (image.file.name, image.thumbnail.name)]
    bobs = make_image(bob)
    client.force_login(alice)
    client.post(URL, {"password": "password"})

    with django_capture_on_commit_callbacks(execute=True):
        purge.purge_trash()
    assert get_user_model().objects.filter(pk=alice.pk).exists()
    assert all(default_storage.exists(name) for name in names)

    with django_capture_on_commit_callbacks(execute=True):
        counts = purge.purge_trash(now=timezone.now() + timedelta(days=7, minutes=1))
    assert counts.users == 1
    assert not get_user_model().objects.filter(pk=alice.pk).exists()
    assert not Job.objects.filter(owner_id=alice.pk).exists()
    assert not any(default_storage.exists(name) for name in names)
    assert list(Image.objects.all()) == [bobs]


def test_staff_cancel_a_deletion_in_the_admin(client, alice, bob):
    get_user_model().objects.filter(pk=alice.pk).update(is_active=False, deletion_requested_at=timezone.now())
    bob.is_staff = bob.is_superuser = True
    bob.save()
    client.force_login(bob)
    changelist = reverse("admin:accounts_user_changelist")
    r = client.get(changelist, {"deletion_requested_at__isempty": "0"})
    assert r.status_code == 200
    assert list(r.context["cl"].result_list) == [_reload(alice)]

    r = client.post(changelist, {"action": "cancel_deletion", "_selected_action": [alice.pk, bob.pk]}, follow=True)
    assert "1 account reactivated." in r.content.decode()
    alice = _reload(alice)
    assert alice.is_active and alice.deletion_requested_at is None


def test_deleting_the_account_cancels_its_queued_jobs(client, alice, bob):
    from tests.generation.helpers import params

    mine = Job.objects.create(owner=alice, **params())
    theirs = Job.objects.create(owner=bob, **params())
    client.force_login(alice)
    client.post(URL, {"password": "password"})
    assert Job.objects.get(pk=mine.pk).status == Job.Status.CANCELLED
    assert Job.objects.get(pk=theirs.pk).status == Job.Status.QUEUED
