from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GenerationConfig(AppConfig):
    name = "generation"
    verbose_name = _("Generation")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.signals import deletion_requested
        from cluster.signals import node_recovered, nodes_checked
        from generation import receivers

        node_recovered.connect(receivers.dispatch_on_recovery, dispatch_uid="generation-dispatch-on-recovery")
        nodes_checked.connect(receivers.keep_jobs_moving, dispatch_uid="generation-keep-jobs-moving")
        deletion_requested.connect(receivers.cancel_jobs_of_deleted_account, dispatch_uid="generation-cancel-deleted-jobs")
