import threading
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from cluster.models import Node
from generation.models import Job
from generation.recovery import expire_stale_jobs, fail_unservable_jobs, reclaim_expired_leases
from generation.tasks import keep_jobs_moving
from tests.workers import wait_for
from tests.generation.helpers import params, registered_node, submit

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_dead_workers_job_is_reclaimed_its_node_interrupted_and_the_job_completes(alice, cluster, worker):
    [(node, sim)] = cluster(1, step_seconds=0.05)
    worker.hold = True
    job = submit(alice, steps=150)
    [(job_id, token)] = worker.held
    worker.held.clear()
    # The worker starts the job and sends the generation to the node, then dies
    # (no lease renewal, nobody waiting for the answer).
    import uuid

    assert Job.objects.get(pk=job_id).start(uuid.UUID(token), timedelta(seconds=30))
    body = {"prompt": "x", "steps": 150, "width": 64, "height": 64}
    threading.Thread(target=lambda: requests.post(f"{sim.url}/sdapi/v1/txt2img", json=body, timeout=60), daemon=True).start()
    wait_for(lambda: sim.state()["jobs_in_progress"], what="the node to be busy")
    assert reclaim_expired_leases() == []  # the lease still runs

    Job.objects.filter(pk=job_id).update(lease_until=timezone.now() - timedelta(seconds=1))
    worker.hold = False
    keep_jobs_moving()  # what the schedule and the health loop run
    wait_for(lambda: Job.objects.get(pk=job_id).is_final(), timeout=30, what="the job to finish")
    worker.wait()
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 2
    assert sim.state()["jobs_interrupted"] == 1


def test_an_assigned_job_whose_task_never_started_goes_back_to_the_queue(alice, cluster, worker):
    cluster(1)
    worker.hold = True
    job = submit(alice)
    Job.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    [reclaimed] = reclaim_expired_leases()
    assert reclaimed.pk == job.pk
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED
    assert job.attempts == 0  # it never ran, so it costs no attempt
    # The stale task, delivered late, must not run the job now.
    (job_id, token) = worker.held.pop()
    from generation.tasks import run_job

    run_job(job_id, token)
    assert Job.objects.get(pk=job.pk).status == Job.Status.QUEUED


def test_queued_jobs_expire_after_the_ttl(alice, settings):
    settings.JOB_QUEUE_TTL_MINUTES = 30
    registered_node(state=Node.State.UNHEALTHY)
    old = Job.objects.create(owner=alice, **_job_fields(), created_at=timezone.now() - timedelta(minutes=31))
    fresh = Job.objects.create(owner=alice, **_job_fields())
    assert [j.pk for j in expire_stale_jobs()] == [old.pk]
    old.refresh_from_db()
    assert old.status == Job.Status.EXPIRED
    assert "30 minutes" in old.error
    assert Job.objects.get(pk=fresh.pk).status == Job.Status.QUEUED


def test_a_job_no_node_can_ever_serve_fails_with_a_reason(alice):
    registered_node(state=Node.State.UNHEALTHY)  # unhealthy but could serve: keeps waiting
    waiting = Job.objects.create(owner=alice, **_job_fields())
    orphan = Job.objects.create(owner=alice, **_job_fields(model="removed-model.safetensors"))
    assert [j.pk for j in fail_unservable_jobs()] == [orphan.pk]
    orphan.refresh_from_db()
    assert orphan.status == Job.Status.FAILED
    assert "removed-model.safetensors" in orphan.error
    assert Job.objects.get(pk=waiting.pk).status == Job.Status.QUEUED


def _job_fields(**overrides):
    fields = params()
    fields["model"] = "v1-5-pruned-emaonly.safetensors [6ce0161689]"
    fields.update(overrides)
    return fields


def test_a_lease_renewed_after_the_reclaimer_looked_is_not_reclaimed(alice, cluster, worker):
    from django.db.models import Q

    cluster(1)
    worker.hold = True
    submit(alice)
    now = timezone.now()
    job = Job.objects.get()  # what the reclaimer read, its lease about to count as expired
    Job.objects.filter(pk=job.pk).update(lease_until=now + timedelta(seconds=30))  # the worker renews
    assert not job.requeue(Q(lease_token=job.lease_token, lease_until__lt=now), "stale", 3)
    assert Job.objects.get(pk=job.pk).status == Job.Status.ASSIGNED
    worker.release()


def test_a_cancel_asked_for_while_the_node_failed_ends_the_job_cancelled(alice, cluster, worker, settings):
    import uuid as uuid_module

    from django.db.models import Q

    cluster(1)
    worker.hold = True
    job = submit(alice)
    [(job_id, token)] = worker.held
    worker.held.clear()
    job = Job.objects.get(pk=job_id)
    assert job.start(uuid_module.UUID(token), timedelta(seconds=30))
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)  # the owner pressed cancel
    job.refresh_from_db()
    assert job.requeue(Q(lease_token=uuid_module.UUID(token)), "node failed", settings.JOB_MAX_ATTEMPTS)
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELLED


def test_a_job_sent_back_to_the_queue_gets_the_ttl_again(alice, settings):
    settings.JOB_QUEUE_TTL_MINUTES = 30
    registered_node(state=Node.State.UNHEALTHY)
    requeued = Job.objects.create(
        owner=alice,
        **_job_fields(),
        created_at=timezone.now() - timedelta(minutes=40),
        assigned_at=timezone.now() - timedelta(minutes=5),
    )
    assert expire_stale_jobs() == []
    assert Job.objects.get(pk=requeued.pk).status == Job.Status.QUEUED
