"""GET /api/v1/usage: the caller's plan, images used and left, and jobs in flight."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import ApiToken, Plan
from generation.models import Job

pytestmark = pytest.mark.django_db

URL = "/api/v1/usage"


@pytest.fixture
def alice_token(alice):
    return ApiToken.issue(alice, "api")[1]


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _job(user, status: str, images: int = 1, age: timedelta = timedelta(0)) -> Job:
    return Job.objects.create(owner=user, model="m", status=status, batch_size=images, created_at=timezone.now() - age)


def test_it_shows_usage_and_limits(client, alice, bob, alice_token):
    alice.plan = Plan.objects.create(name="Small", images_per_day=10, max_concurrent_jobs=3, max_pixels=512 * 512, max_steps=30, max_images_per_job=4, retention_days=3)
    alice.save()
    oldest = _job(alice, Job.Status.SUCCEEDED, images=4, age=timedelta(hours=20))
    _job(alice, Job.Status.RUNNING, images=2)
    _job(alice, Job.Status.FAILED, images=4)  # given back
    _job(alice, Job.Status.SUCCEEDED, images=4, age=timedelta(hours=25))  # out of the window
    _job(bob, Job.Status.QUEUED, images=8)
    r = client.get(URL, headers=_h(alice_token))
    assert r.status_code == 200
    body = r.json()
    assert body["plan"] == {
        "name": "Small",
        "images_per_day": 10,
        "max_concurrent_jobs": 3,
        "max_pixels": 512 * 512,
        "max_steps": 30,
        "max_images_per_job": 4,
        "retention_days": 3,
    }
    assert (body["images_used"], body["images_left"], body["jobs_in_flight"]) == (6, 4, 1)
    assert (body["window_hours"], body["quota_exempt"]) == (24, False)
    next_free_at = parse_datetime(body["next_free_at"])
    assert abs(next_free_at - (oldest.created_at + timedelta(hours=24))) < timedelta(milliseconds=1)


def test_it_shows_the_default_plan_when_nothing_was_used(client, alice_token, _roomy_default_plan):
    body = client.get(URL, headers=_h(alice_token)).json()
    assert body["plan"]["name"] == "Roomy"
    assert (body["images_used"], body["next_free_at"], body["jobs_in_flight"]) == (0, None, 0)


def test_it_requires_a_valid_token(client, alice_token):
    assert client.get(URL).status_code == 401
    ApiToken.objects.all().delete()
    r = client.get(URL, headers=_h(alice_token))
    assert (r.status_code, r.json()["error"]) == (401, "unauthorized")
