from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Plan
from generation.models import Job
from tests.generation.helpers import params

pytestmark = pytest.mark.django_db


def _job(user, images, status=Job.Status.SUCCEEDED, age=timedelta(0)):
    fields = params(batch_size=images)
    return Job.objects.create(owner=user, status=status, created_at=timezone.now() - age, **fields)


def test_it_shows_plan_usage_and_the_last_14_days(client, alice):
    plan = Plan.objects.create(name="Starter", images_per_day=20, max_concurrent_jobs=2)
    alice.plan = plan
    alice.save()
    _job(alice, 3)
    _job(alice, 2, status=Job.Status.QUEUED)
    _job(alice, 4, status=Job.Status.FAILED)  # refunded
    _job(alice, 5, age=timedelta(days=3))
    _job(alice, 7, age=timedelta(days=20))  # outside the chart
    client.force_login(alice)
    r = client.get(reverse("generation:usage"))
    assert r.status_code == 200
    usage = r.context["usage"]
    assert (usage.images_used, usage.images_left, usage.jobs_in_flight) == (5, 15, 1)
    days = r.context["days"]
    assert len(days) == 14
    assert days[-1]["images"] == 5
    assert days[-4]["images"] == 5
    assert sum(d["images"] for d in days) == 10
    assert "Starter" in r.content.decode()


def test_it_shows_only_the_callers_usage(client, alice, bob):
    _job(bob, 8)
    client.force_login(alice)
    r = client.get(reverse("generation:usage"))
    assert r.context["usage"].images_used == 0


def test_it_requires_login(client):
    assert client.get(reverse("generation:usage")).status_code == 302
