"""The job lifecycle against simulated nodes over real HTTP, with the worker's task running in threads."""

import io

import pytest
from PIL import Image as PILImage

from cluster.models import Node
from generation.models import Job
from tests.workers import wait_for
from tests.generation.helpers import MODEL, submit

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_runs_a_job_and_stores_png_files_with_their_seeds(alice, cluster, worker):
    [(node, sim)] = cluster(1)
    job = submit(alice, batch_size=2, seed=1234)
    worker.wait()
    job.refresh_from_db()

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.node == node
    assert job.attempts == 1
    assert job.started_at <= job.finished_at
    images = list(job.images.order_by("index"))
    assert [image.seed for image in images] == [1234, 1235]
    for image in images:
        assert image.owner == alice
        with image.file.open("rb") as f:
            png = PILImage.open(io.BytesIO(f.read()))
        assert png.format == "PNG"
        assert (png.width, png.height) == (image.width, image.height) == (64, 64)
        assert f"Seed: {image.seed}" in png.info["parameters"]
        assert png.info["parameters"] == image.infotext
        with image.thumbnail.open("rb") as f:
            assert PILImage.open(io.BytesIO(f.read())).format == "WEBP"
    node.refresh_from_db()
    assert node.images_done == 2
    assert node.model_loaded.startswith(MODEL)
    assert sim.state()["jobs_finished"] == 1


def test_it_resolves_a_random_seed_to_the_real_one(alice, cluster, worker):
    cluster(1)
    job = submit(alice, seed=-1)
    worker.wait()
    [image] = job.images.all()
    assert 0 <= image.seed < 4294967295
    assert f"Seed: {image.seed}" in image.infotext


def test_it_fails_the_job_with_the_nodes_message_on_a_4xx(alice, cluster, worker, monkeypatch):
    [(node, sim)] = cluster(1)
    # A payload the node rejects with 422 (steps must be an integer there).
    from generation import runner

    original = runner.payload

    def bad_payload(job, node):
        kind, body = original(job, node)
        return kind, {**body, "steps": "many"}

    monkeypatch.setattr(runner, "payload", bad_payload)
    job = submit(alice)
    worker.wait()
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "refused" in job.error and "steps" in job.error
    node.refresh_from_db()
    assert node.failures == 0  # the job's fault, not the node's


def test_it_requeues_on_a_5xx_and_finishes_on_another_node(alice, cluster, worker):
    (bad, bad_sim), (good, good_sim) = cluster(2)
    bad_sim.control(fail_rate=1)
    # Make the failing node the preferred one: it is the only one with the model loaded.
    Node.objects.filter(pk=good.pk).update(model_loaded="")
    Node.objects.filter(pk=bad.pk).update(model_loaded=MODEL)
    job = submit(alice)
    wait_for(lambda: Job.objects.get(pk=job.pk).is_final(), what="the job to end")
    worker.wait()
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.node == good
    assert job.nodes_tried == [bad.pk]
    assert job.attempts == 2
    bad.refresh_from_db()
    assert bad.failures == 1


def test_it_gives_up_after_the_maximum_attempts(alice, cluster, worker, settings):
    settings.JOB_MAX_ATTEMPTS = 2
    [(node, sim)] = cluster(1)
    sim.control(fail_rate=1)
    job = submit(alice)
    wait_for(lambda: Job.objects.get(pk=job.pk).is_final(), what="the job to end")
    worker.wait()
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.attempts == 2
    assert "Gave up after 2 attempts" in job.error
    assert not job.images.exists()


def test_a_node_killed_mid_job_sends_the_job_to_another_node(alice, cluster, worker):
    (first, first_sim), (second, second_sim) = cluster(2, step_seconds=0.05)
    Node.objects.filter(pk=second.pk).update(model_loaded="")
    Node.objects.filter(pk=first.pk).update(model_loaded=MODEL)
    first_sim.control(die_at_step=3)
    job = submit(alice, steps=10)
    wait_for(lambda: Job.objects.get(pk=job.pk).is_final(), what="the job to end")
    worker.wait()
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.node == second
    assert job.nodes_tried == [first.pk]
    assert first_sim.proc.poll() is not None  # the first node really died


def test_a_stalled_node_is_interrupted_and_the_job_moves_on(alice, cluster, worker):
    (first, first_sim), (second, second_sim) = cluster(2)
    Node.objects.filter(pk=second.pk).update(model_loaded="")
    Node.objects.filter(pk=first.pk).update(model_loaded=MODEL)
    first_sim.control(stall_at_step=3)
    job = submit(alice, steps=10)
    wait_for(lambda: Job.objects.get(pk=job.pk).is_final(), timeout=30, what="the job to end")
    worker.wait()
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.node == second
    assert first_sim.state()["jobs_interrupted"] == 1
    first.refresh_from_db()
    assert first.failures == 1
    assert "stopped making progress" in first.last_error


def test_it_cancels_a_running_job_by_interrupting_its_node(alice, cluster, worker):
    from generation.submit import cancel_job

    [(node, sim)] = cluster(1, step_seconds=0.2)
    job = submit(alice, steps=50)
    wait_for(lambda: Job.objects.get(pk=job.pk).step >= 2 or sim.state()["jobs_in_progress"], what="the job to run")
    assert cancel_job(Job.objects.get(pk=job.pk))
    worker.wait()
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert not job.images.exists()
    assert sim.state()["jobs_interrupted"] == 1


def test_it_cancels_a_queued_job_at_once(alice, cluster, worker):
    from generation.submit import cancel_job

    cluster(1, step_seconds=0.1)
    running = submit(alice, steps=30)
    queued = submit(alice)
    assert Job.objects.get(pk=queued.pk).status == Job.Status.QUEUED
    assert cancel_job(Job.objects.get(pk=queued.pk))
    assert Job.objects.get(pk=queued.pk).status == Job.Status.CANCELLED
    cancel_job(Job.objects.get(pk=running.pk))
    worker.wait()
    assert not cancel_job(Job.objects.get(pk=queued.pk))  # already ended
