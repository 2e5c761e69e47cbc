"""Run one assigned job on its node: the worker's half of the job lifecycle.

The generation request blocks until the node is done, so it runs in a
helper thread while this thread watches: it polls the node's progress,
pushes events, renews the lease, and interrupts the node when the job is
cancelled, taken away or stalled. Progress and interrupt are node-global in
A1111 (reference §10.4): the dispatcher gives a node only as many jobs as
its capacity, and this module interrupts only while the node reports the
job timestamp it saw start after our request.
"""

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from cluster.client import NodeClient, NodeError, NodeFailed, NodeRejected
from cluster.models import Node, model_key
from generation import events
from generation.models import Image, Job
from generation.results import BadImage, delete_files, encode_file, generated_images, store_images

log = logging.getLogger(__name__)

PREVIEW_EVERY_SECONDS = 3.0
RENEW_EVERY_SECONDS = 5.0
INTERRUPT_GRACE_SECONDS = 15.0


def payload(job: Job, node: Node) -> tuple[str, dict[str, Any]]:
    """The A1111 request for a job. Every field we care about is sent
    explicitly: server defaults differ from the clients' (reference §10.8)."""
    if job.kind == Job.Kind.UPSCALE:
        return "upscale", {
            "image": encode_file(job.source.file if job.source else job.init_image),
            "resize_mode": 0,
            "upscaling_resize": job.upscale_factor or 2,
            "upscaler_1": job.upscaler or "R-ESRGAN 4x+",
        }
    body: dict[str, Any] = {
        "prompt": job.prompt,
        "negative_prompt": job.negative_prompt,
        "seed": job.seed,
        "sampler_name": job.sampler_name,
        "scheduler": job.scheduler,
        "steps": job.steps,
        "cfg_scale": job.cfg_scale,
        "width": job.width,
        "height": job.height,
        "batch_size": job.batch_size,
        "n_iter": job.n_iter,
        # Keep the model loaded and the setting in step with it, so the
        # next job does not reload the previous model (reference §10.3).
        "override_settings": {"sd_model_checkpoint": node.model_title(job.model)},
        "override_settings_restore_afterwards": False,
        "send_images": True,
        "save_images": False,
    }
    if job.kind == Job.Kind.IMG2IMG:
        init = job.source.file if job.source else job.init_image
        body["init_images"] = [encode_file(init)]
        body["denoising_strength"] = job.denoising_strength if job.denoising_strength is not None else 0.75
    return job.kind, body


@dataclass
class Call:
    """The generation request, running in its own thread."""

    result: dict[str, Any] | None = None
    error: NodeError | None = None
    done: threading.Event = field(default_factory=threading.Event)


def _call(client: NodeClient, kind: str, body: dict[str, Any], call: Call) -> None:
    try:
        if kind == "upscale":
            call.result = client.extra_single_image(body, settings.JOB_GENERATION_TIMEOUT)
        elif kind == Job.Kind.IMG2IMG:
            call.result = client.img2img(body, settings.JOB_GENERATION_TIMEOUT)
        else:
            call.result = client.txt2img(body, settings.JOB_GENERATION_TIMEOUT)
    except NodeError as e:
        call.error = e
    finally:
        call.done.set()


class Watch:
    """What the watching thread learned while the node worked."""

    def __init__(self, job: Job, token: uuid.UUID):
        self.job = job
        self.token = token
        self.reason = ""  # why we interrupted: "cancel", "lost", "stall"
        self.timestamp: str | None = None  # state.job_timestamp of our job on the node
        # The job_timestamp of a generation the node was already running when
        # our request went out (a reclaimed job's): not ours to show or stop.
        self.before: str | None = None
        self.last_change = time.monotonic()
        self.last_seen: tuple | None = None
        self.last_renew = 0.0
        self.last_preview = 0.0


def run(job: Job, token: uuid.UUID) -> None:
    """Generate ``job`` (already ``running``) on its node and record the outcome."""
    node = job.node
    assert node is not None  # start() only succeeds for an assigned job
    lease = timedelta(seconds=settings.JOB_LEASE_SECONDS)
    try:
        kind, body = payload(job, node)
    except (OSError, ValueError) as e:
        job.finish(Job.Status.FAILED, holder=_holder(token), error=_("The input image could not be read: %s") % e)
        events.job_changed(job, "failed")
        return

    call = Call()
    client = NodeClient(node.url, node.auth, connect_timeout=5, status_timeout=settings.NODE_CHECK_TIMEOUT)
    watch = Watch(job, token)
    try:
        state = client.progress(skip_current_image=True).get("state", {})
        if state.get("job_count", 0) != 0:
            watch.before = state.get("job_timestamp")
    except NodeError:
        pass  # the generation call will tell whether the node is there
    thread = threading.Thread(target=_call, args=(client, kind, body, call), daemon=True, name=f"job-{job.code}")
    thread.start()
    try:
        while not watch.reason and not call.done.wait(settings.JOB_PROGRESS_POLL_SECONDS):
            _watch_once(client, watch, lease)
        if watch.reason:
            _interrupt_if_ours(client, watch)
            if watch.reason != "lost":
                # An interrupted node answers at once with what it has; a hung one may never.
                call.done.wait(INTERRUPT_GRACE_SECONDS)
    finally:
        client.close()
    _record_outcome(job, node, token, call, watch)


def _holder(token: uuid.UUID) -> Q:
    return Q(lease_token=token)


def _watch_once(client: NodeClient, watch: Watch, lease: timedelta) -> None:
    """One tick: read the job row, poll the node, renew the lease, push progress."""
    job = watch.job
    now = time.monotonic()
    row = Job.objects.filter(pk=job.pk).values("status", "lease_token", "cancel_requested").first()
    if row is None or row["status"] != Job.Status.RUNNING or row["lease_token"] != watch.token:
        watch.reason = watch.reason or "lost"
        return
    if row["cancel_requested"]:
        watch.reason = watch.reason or "cancel"

    want_preview = now - watch.last_preview >= PREVIEW_EVERY_SECONDS
    try:
        progress = client.progress(skip_current_image=not want_preview)
    except NodeError:
        progress = None
    state = progress.get("state", {}) if progress is not None else {}
    busy = state.get("job_count", 0) != 0
    seen = (round(progress.get("progress") or 0, 4), state.get("sampling_step") or 0, state.get("job_no") or 0) if busy else None
    if state.get("job_count") == -1 or (seen is not None and seen != watch.last_seen):
        # Sampling moves on, or a model loads (reference §3): slow is not stalled.
        watch.last_change = now
    if watch.before is not None and progress is not None and (not busy or (seen and watch.last_seen and seen < watch.last_seen)):
        # The generation that ran before ours ended (idle, or the steps started over):
        # job timestamps have one-second resolution, so ours may carry the same one.
        watch.before = None
    watch.last_seen = seen
    # An idle node reports stale numbers, and a generation from before ours is
    # someone else's: only a busy node with a new job tells about our job.
    if watch.timestamp is None and busy and (watch.before is None or state.get("job_timestamp") != watch.before):
        watch.timestamp = state.get("job_timestamp")
    if watch.timestamp is not None and busy and state.get("job_timestamp") == watch.timestamp:
        fraction = float(progress.get("progress") or 0.0)
        extra: dict[str, Any] = {}
        if want_preview and progress.get("current_image"):
            watch.last_preview = now
            extra["preview"] = "data:image/png;base64," + progress["current_image"]
        job.progress, job.step = fraction, int(state.get("sampling_step") or 0)
        job.eta_seconds = round(float(progress.get("eta_relative") or 0.0), 1)
        events.job_changed(job, "progress", **extra)
    if now - watch.last_change > settings.JOB_STALL_SECONDS:
        watch.reason = watch.reason or "stall"

    if now - watch.last_renew >= RENEW_EVERY_SECONDS:
        watch.last_renew = now
        if not job.renew(watch.token, lease, progress=job.progress, step=job.step, eta_seconds=job.eta_seconds):
            watch.reason = watch.reason or "lost"


def _interrupt_if_ours(client: NodeClient, watch: Watch) -> None:
    """Interrupt the node only while it still runs our job: interrupt is node-global."""
    try:
        state = client.progress(skip_current_image=True).get("state", {})
        busy = state.get("job_count", 0) != 0
        ours = state.get("job_timestamp") == watch.timestamp if watch.timestamp else state.get("job_timestamp") != watch.before
        if busy and ours:
            client.interrupt()
    except NodeError as e:
        log.info("job %s: could not interrupt the node: %s", watch.job.code, e.message)


def _record_outcome(job: Job, node: Node, token: uuid.UUID, call: Call, watch: Watch) -> None:
    max_attempts = settings.JOB_MAX_ATTEMPTS
    if watch.reason == "lost":
        log.info("job %s: lease lost on node %s; leaving it to its new holder", job.code, node.name)
        return
    if watch.reason == "cancel":
        if job.finish(Job.Status.CANCELLED, holder=_holder(token)):
            events.job_changed(job, "cancelled")
        return
    if watch.reason == "stall" or not call.done.is_set():
        reason = _("Node %(node)s stopped making progress.") % {"node": node.name}
        node.record_failure(reason)
        _requeue(job, token, reason, max_attempts)
        return
    # 401/403 mean the node's credentials are wrong: the node's fault, not the job's.
    if isinstance(call.error, NodeRejected) and call.error.status not in (401, 403):
        message = _("The node refused the request: %(message)s") % {"message": call.error.message}
        if job.finish(Job.Status.FAILED, holder=_holder(token), error=message):
            events.job_changed(job, "failed")
        return
    if isinstance(call.error, NodeFailed) or call.error is not None:
        node.record_failure(call.error.message)
        _requeue(job, token, _("Node %(node)s failed: %(message)s") % {"node": node.name, "message": call.error.message}, max_attempts)
        return
    _store_success(job, node, token, call.result or {}, max_attempts)


def _requeue(job: Job, token: uuid.UUID, reason: str, max_attempts: int) -> None:
    if job.requeue(_holder(token), reason, max_attempts):
        log.info("job %s: %s (now %s)", job.code, reason, job.status)
        events.job_changed(job, job.status)  # queued again, failed, or cancelled meanwhile


def _store_success(job: Job, node: Node, token: uuid.UUID, result: dict[str, Any], max_attempts: int) -> None:
    """Check the node ran what we asked, store the images and finish the job in one transaction."""
    if job.kind == Job.Kind.UPSCALE:
        items = [{"data": result.get("image", ""), "seed": job.source.seed if job.source else None, "infotext": job.source.infotext if job.source else ""}]
        model_name = job.source.model_name if job.source else ""
    else:
        info = result.get("info", {})
        # The webui silently falls back to another model or sampler (reference §10.1).
        ran_model = info.get("sd_model_name") or ""
        if ran_model and model_key(ran_model) != model_key(job.model):
            _requeue(job, token, _("Node %(node)s ran model %(ran)s instead of %(asked)s.") % {"node": node.name, "ran": ran_model, "asked": job.model}, max_attempts)
            return
        ran_sampler = info.get("sampler_name")
        if ran_sampler and ran_sampler != job.sampler_name:
            _requeue(job, token, _("Node %(node)s used sampler %(ran)s instead of %(asked)s.") % {"node": node.name, "ran": ran_sampler, "asked": job.sampler_name}, max_attempts)
            return
        items = generated_images(job, result)
        model_name = ran_model or job.model
    # Storing large files may take a while: keep the lease, and stop if it is gone.
    if not job.renew(token, timedelta(seconds=settings.JOB_LEASE_SECONDS)):
        return
    try:
        images = store_images(job, items, model_name)
    except BadImage as e:
        node.record_failure(str(e))
        _requeue(job, token, _("Node %(node)s sent an unreadable image.") % {"node": node.name}, max_attempts)
        return
    with transaction.atomic():
        finished = job.finish(Job.Status.SUCCEEDED, holder=_holder(token))
        if finished:
            Image.objects.bulk_create(images)
    if not finished:
        delete_files(images)
        return
    observed: dict[str, Any] = {"busy": False, "progress": 0.0}
    if job.kind != Job.Kind.UPSCALE:
        observed["model_loaded"] = node.model_title(job.model)
        if result.get("info", {}).get("version"):
            observed["version"] = str(result["info"]["version"])[:100]
    node.record_success(observed)
    node.record_images(len(images))
    events.job_changed(job, "succeeded")
