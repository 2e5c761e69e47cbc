import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import Plan
from generation.models import Job
from generation.quotas import QuotaExceeded, images_in_window, usage
from generation.submit import submit_job
from tests.generation.helpers import params, registered_node

MODEL = "v1-5-pruned-emaonly.safetensors [6ce0161689]"


@pytest.fixture
def small_plan(db):
    return Plan.objects.create(
        name="Small",
        images_per_day=10,
        max_concurrent_jobs=3,
        max_pixels=512 * 512,
        max_steps=30,
        max_images_per_job=4,
    )


@pytest.fixture
def limited_alice(alice, small_plan):
    alice.plan = small_plan
    alice.save()
    return alice


def _job(user, status=Job.Status.SUCCEEDED, images=1, age=timedelta(0)) -> Job:
    fields = params(batch_size=images)
    fields["model"] = MODEL
    return Job.objects.create(owner=user, status=status, created_at=timezone.now() - age, **fields)


@pytest.mark.django_db
class TestQuotas:
    def test_it_counts_images_in_the_rolling_window_and_refunds_failures(self, limited_alice):
        _job(limited_alice, images=4)
        _job(limited_alice, images=2, age=timedelta(hours=23))
        _job(limited_alice, images=3, age=timedelta(hours=25))  # left the window
        for status in (Job.Status.FAILED, Job.Status.CANCELLED, Job.Status.EXPIRED):
            _job(limited_alice, status=status, images=4)
        assert images_in_window(limited_alice) == 6
        u = usage(limited_alice)
        assert (u.images_used, u.images_left, u.plan.name) == (6, 4, "Small")

    def test_it_refuses_a_job_over_the_daily_quota_with_429_naming_limit_usage_and_time(self, client, limited_alice):
        registered_node()
        oldest = _job(limited_alice, images=4, age=timedelta(hours=20))
        _job(limited_alice, images=4)
        client.force_login(limited_alice)
        r = client.post(reverse("generation:create-job"), params(batch_size=4, steps=20))
        assert r.status_code == 429
        body = r.json()
        assert body["error"] == "quota"
        assert "needs 4 images but only 2 of your 10 images per 24 hours are left" in body["message"]
        assert body["retry_at"] == (oldest.created_at + timedelta(hours=24)).isoformat()
        assert 3 * 3600 < int(r["Retry-After"]) <= 4 * 3600 + 1
        assert Job.objects.count() == 2

    def test_it_refuses_too_many_jobs_in_flight(self, client, limited_alice):
        registered_node()
        for _ in range(3):
            _job(limited_alice, status=Job.Status.QUEUED)
        client.force_login(limited_alice)
        r = client.post(reverse("generation:create-job"), params(steps=20))
        assert r.status_code == 429
        assert r.json()["error"] == "concurrency"
        assert "allows 3 at once" in r.json()["message"]

    @pytest.mark.parametrize(
        "overrides,field,fragment",
        [
            ({"steps": 31}, "steps", "at most 30 steps"),
            ({"width": 1024, "height": 512}, "width", "at most 262144 pixels"),
            ({"batch_size": 5}, "batch_size", "at most 4 images per job"),
        ],
    )
    def test_it_refuses_parameters_above_the_plans_limits(self, client, limited_alice, overrides, field, fragment):
        registered_node()
        client.force_login(limited_alice)
        r = client.post(reverse("generation:create-job"), params(**{"steps": 20, **overrides}))
        assert r.status_code == 400
        assert fragment in r.json()["fields"][field][0]
        assert "Small" in r.json()["fields"][field][0]

    def test_an_exempt_user_has_no_limits(self, client, limited_alice):
        registered_node()
        limited_alice.quota_exempt = True
        limited_alice.save()
        for _ in range(3):
            _job(limited_alice, status=Job.Status.QUEUED, images=4)
        client.force_login(limited_alice)
        r = client.post(reverse("generation:create-job"), params(steps=100, batch_size=8))
        assert r.status_code == 201

    def test_new_accounts_get_the_default_plan(self, django_user_model, small_plan):
        small_plan.is_default = True
        small_plan.save()
        user = django_user_model.objects.create_user("erin", "erin@example.org", "pw")
        assert user.get_plan() == small_plan
        other = Plan.objects.create(name="Other", is_default=True)
        small_plan.refresh_from_db()
        assert not small_plan.is_default
        assert user.get_plan() == other


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_never_overspend_the_quota(limited_alice, small_plan):
    small_plan.max_concurrent_jobs = 100
    small_plan.save()
    cleaned = {**params(), "model": MODEL}
    admitted, refused, errors = [], [], []
    start = threading.Barrier(50)

    def submit():
        try:
            start.wait()
            admitted.append(submit_job(limited_alice, cleaned))
        except QuotaExceeded:
            refused.append(1)
        except Exception as e:  # a deadlock or lock timeout would be a bug
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(admitted) == 10
    assert len(refused) == 40
    assert images_in_window(limited_alice) == 10
