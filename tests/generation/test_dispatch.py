import threading

import pytest
from django.db import connection

from cluster.models import Node
from generation.dispatch import dispatch
from generation.models import Job
from tests.workers import wait_for
from tests.generation.helpers import MODEL, submit

pytestmark = pytest.mark.django_db(transaction=True)

SDXL = "sd_xl_base_1.0.safetensors"


def test_one_users_backlog_does_not_starve_another(alice, bob, cluster, worker):
    cluster(1)
    worker.hold = True
    alice_jobs = [submit(alice) for _ in range(20)]
    bobs = submit(bob)
    worker.release()
    wait_for(lambda: Job.objects.get(pk=bobs.pk).is_final(), timeout=30, what="bob's job")
    # Let no further job start, then compare who started when.
    Job.objects.filter(status=Job.Status.QUEUED).update(status=Job.Status.CANCELLED)
    worker.wait()
    bob_started = Job.objects.get(pk=bobs.pk).started_at
    first, second, third = (Job.objects.get(pk=j.pk).started_at for j in alice_jobs[:3])
    assert first < bob_started
    assert third is None or bob_started < third


def test_it_is_fifo_within_one_user(alice, cluster, worker):
    cluster(1)
    worker.hold = True
    jobs = [submit(alice) for _ in range(4)]
    worker.release()
    wait_for(lambda: all(Job.objects.get(pk=j.pk).is_final() for j in jobs), timeout=30, what="all jobs")
    worker.wait()
    starts = [Job.objects.get(pk=j.pk).started_at for j in jobs]
    assert starts == sorted(starts)


def test_it_never_exceeds_a_nodes_capacity_with_concurrent_dispatchers(alice, bob, charlie, cluster, worker):
    (one, _), (two, _) = cluster(2, capacity=2)
    worker.hold = True
    for user in (alice, bob, charlie) * 4:
        submit(user)

    def dispatch_repeatedly():
        try:
            for _ in range(5):
                dispatch()
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatch_repeatedly) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for node in (one, two):
        assert Job.objects.filter(node=node, status__in=Job.IN_FLIGHT).count() == 2
    assert Job.objects.filter(status=Job.Status.QUEUED).count() == 8
    assert len(worker.held) == 4
    # Each user got a slot before anyone got a second one.
    owners = list(Job.objects.filter(status__in=Job.IN_FLIGHT).values_list("owner", flat=True))
    assert {alice.pk, bob.pk, charlie.pk} <= set(owners)
    Job.objects.filter(status=Job.Status.QUEUED).update(status=Job.Status.CANCELLED)
    worker.release()


def test_it_prefers_a_node_with_the_model_loaded(alice, cluster, worker):
    (sdxl_node, _), (sd15_node, _) = cluster(2)
    Node.objects.filter(pk=sdxl_node.pk).update(model_loaded=f"{SDXL} [31e35c80fc]")
    Node.objects.filter(pk=sd15_node.pk).update(model_loaded=f"{MODEL} [6ce0161689]")
    worker.hold = True
    sd15_job = submit(alice)
    sdxl_job = submit(alice, model=SDXL)
    assert Job.objects.get(pk=sd15_job.pk).node == sd15_node
    assert Job.objects.get(pk=sdxl_job.pk).node == sdxl_node
    worker.release()


def test_it_skips_draining_disabled_and_unhealthy_nodes(alice, cluster, worker):
    (draining, _), (disabled, _), (sick, _), (good, _) = cluster(4)
    Node.objects.filter(pk=draining.pk).update(draining=True)
    Node.objects.filter(pk=disabled.pk).update(enabled=False)
    Node.objects.filter(pk=sick.pk).update(state=Node.State.UNHEALTHY)
    worker.hold = True
    first = submit(alice)
    assert Job.objects.get(pk=first.pk).node == good
    second = submit(alice)
    assert Job.objects.get(pk=second.pk).status == Job.Status.QUEUED
    Node.objects.filter(pk=draining.pk).update(draining=False)
    assert [j.pk for j in dispatch()] == [second.pk]
    assert Job.objects.get(pk=second.pk).node == draining
    assert not Job.objects.filter(node__in=[disabled, sick]).exists()
    worker.release()


def test_a_job_too_large_for_a_node_waits_for_one_that_can_take_it(alice, cluster, worker):
    (small, _), (big, _) = cluster(2)
    Node.objects.filter(pk=small.pk).update(max_pixels=512 * 512)
    worker.hold = True
    blocker = submit(alice)  # occupies one of the two nodes
    large = submit(alice, width=1024, height=1024)
    assert Job.objects.get(pk=large.pk).node == big or Job.objects.get(pk=blocker.pk).node == big
    worker.release()


def test_a_heavier_plan_gets_proportionally_more_slots(alice, bob, cluster, worker):
    from accounts.models import Plan

    pro = Plan.objects.create(name="Pro", weight=3, images_per_day=1000, max_concurrent_jobs=100, max_steps=150)
    alice.plan = pro
    alice.save()
    cluster(2, capacity=2)  # four slots
    worker.hold = True
    Node.objects.update(state=Node.State.UNKNOWN)  # let the queue build up first
    for _ in range(6):
        _queue(alice)
        _queue(bob)
    Node.objects.update(state=Node.State.HEALTHY)
    dispatch()
    in_flight = list(Job.objects.filter(status__in=Job.IN_FLIGHT).values_list("owner", flat=True))
    assert sorted(in_flight) == sorted([alice.pk, alice.pk, alice.pk, bob.pk])
    Job.objects.filter(status=Job.Status.QUEUED).update(status=Job.Status.CANCELLED)
    worker.release()


def _queue(user) -> Job:
    from tests.generation.helpers import params

    fields = params()
    fields["model"] = "v1-5-pruned-emaonly.safetensors [6ce0161689]"
    return Job.objects.create(owner=user, **fields)
