from django.db import transaction

from generation.dispatch import dispatch
from generation.models import Job
from generation.submit import cancel_job
from generation.tasks import keep_jobs_moving as _keep_jobs_moving


def dispatch_on_recovery(sender, node, **kwargs) -> None:
    transaction.on_commit(dispatch)


def keep_jobs_moving(sender, **kwargs) -> None:
    _keep_jobs_moving()


def cancel_jobs_of_deleted_account(sender, user, **kwargs) -> None:
    """A deactivated account's jobs stop now instead of running for nobody."""
    for job in Job.objects.filter(owner=user, status__in=Job.ACTIVE):
        cancel_job(job)
