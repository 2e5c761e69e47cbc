"""The dispatcher: give free node slots to queued jobs, fairly.

Safe to run from several processes at once: the available nodes' rows are
locked for the whole pass (so two passes cannot both fill the same free
slot), queued jobs are picked with SKIP LOCKED on MySQL, and each
assignment is a compare-and-set on the job's status. On SQLite, whose
transactions take the write lock at BEGIN (IMMEDIATE), passes simply run
one after another.
"""

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max
from django_q.tasks import async_task

from accounts.models import Plan, User
from cluster.models import Node
from generation.models import Job

log = logging.getLogger(__name__)

# How many queued jobs one pass looks at; more than the free slots so that
# jobs no free node can serve do not block the ones behind them.
BATCH = 200


@dataclass
class Slot:
    node: Node
    free: int


def dispatch() -> list[Job]:
    """Assign as many queued jobs as there are free slots; start their tasks after commit."""
    with transaction.atomic():
        slots = _slots()
        if not any(slot.free for slot in slots):
            return []
        queued = Job.objects.filter(status=Job.Status.QUEUED, deleted_at__isnull=True).order_by("created_at", "pk")
        if connection.features.has_select_for_update_skip_locked:
            queued = queued.select_for_update(skip_locked=True)
        candidates = list(queued[:BATCH])
        assigned = _assign_fairly(candidates, slots)
        for job in assigned:
            transaction.on_commit(lambda job=job: _start_task(job))
    if assigned:
        log.info("dispatched %d job(s): %s", len(assigned), ", ".join(f"{j.code}→{j.node}" for j in assigned))
    return assigned


def _slots() -> list[Slot]:
    """Every available node with its free capacity (0 when full), locked until commit."""
    nodes = list(Node.available().select_for_update().order_by("pk"))
    if not nodes:
        return []
    running = dict(
        Job.objects.filter(status__in=Job.IN_FLIGHT, node__in=nodes)
        .values_list("node")
        .annotate(n=Count("pk"))
        .values_list("node", "n")
    )
    return [Slot(node, max(0, node.capacity - running.get(node.pk, 0))) for node in nodes]


def _assign_fairly(candidates: list[Job], slots: list[Slot]) -> list[Job]:
    """Fair order: the owner with the fewest jobs in flight first, FIFO within an owner.

    1. Group the queued jobs by owner, oldest first.
    2. Repeatedly take the owner with the fewest jobs in flight per unit of
       their plan's weight (a weight-3 plan gets three slots for one); on a tie,
       the one served longest ago (so with one free slot at a time users
       take turns instead of the oldest backlog going first), then the one
       whose next job is oldest. Try to place that owner's next job.
    3. A job no free slot can serve stays queued; the owner's later jobs
       may still go (a job for another model must not block them).
    """
    lease = timedelta(seconds=settings.JOB_LEASE_SECONDS * 2)  # covers the wait for a free worker
    by_owner: dict[int, list[Job]] = defaultdict(list)
    for job in candidates:
        by_owner[job.owner_id].append(job)
    in_flight = Counter(
        dict(
            Job.objects.filter(status__in=Job.IN_FLIGHT, owner__in=by_owner)
            .values_list("owner")
            .annotate(n=Count("pk"))
            .values_list("owner", "n")
        )
    )
    last_served = dict(
        Job.objects.filter(owner__in=by_owner, assigned_at__isnull=False)
        .values_list("owner")
        .annotate(last=Max("assigned_at"))
        .values_list("owner", "last")
    )
    weights = _plan_weights(list(by_owner))
    never = datetime.min.replace(tzinfo=dt_timezone.utc)
    assigned: list[Job] = []
    while by_owner and any(slot.free for slot in slots):
        owner = min(
            by_owner,
            key=lambda o: (in_flight[o] / weights[o], last_served.get(o) or never, by_owner[o][0].created_at, by_owner[o][0].pk),
        )
        job = by_owner[owner].pop(0)
        if not by_owner[owner]:
            del by_owner[owner]
        slot = _best_slot(job, slots)
        if slot is None or not job.assign(slot.node, lease):
            continue
        slot.free -= 1
        in_flight[owner] += 1
        last_served[owner] = job.assigned_at
        assigned.append(job)
    return assigned


def _plan_weights(owner_ids: list[int]) -> dict[int, int]:
    default = None
    weights = {}
    for user in User.objects.filter(pk__in=owner_ids).select_related("plan"):
        if user.plan_id is None and default is None:
            default = Plan.default()
        weights[user.pk] = max(1, (user.plan or default).weight)
    return weights


def _best_slot(job: Job, slots: list[Slot]) -> Slot | None:
    """A free slot on a node that can run the job, preferring one with its model loaded.

    A node the job already failed on is used only when no other node could
    serve it at all; otherwise the job waits for one of those.
    """
    capable = [slot for slot in slots if _can_serve(slot.node, job)]
    untried = [slot for slot in capable if slot.node.pk not in job.nodes_tried]
    free = [slot for slot in (untried or capable) if slot.free > 0]
    if not free:
        return None
    return min(free, key=lambda slot: (not slot.node.has_loaded(job.model), -slot.free, slot.node.pk))


def _can_serve(node: Node, job: Job) -> bool:
    if node.max_pixels < job.width * job.height:
        return False
    return job.kind == Job.Kind.UPSCALE or node.has_model(job.model)


def _start_task(job: Job) -> None:
    async_task("generation.tasks.run_job", job.pk, str(job.lease_token), task_name=f"job-{job.code}")
