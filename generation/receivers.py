from django.db import transaction

from generation.dispatch import dispatch
from generation.tasks import keep_jobs_moving as _keep_jobs_moving


def dispatch_on_recovery(sender, node, **kwargs) -> None:
    transaction.on_commit(dispatch)


def keep_jobs_moving(sender, **kwargs) -> None:
    _keep_jobs_moving()
