from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts import deletion
from accounts.models import ApiToken, Plan, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    # Account deletion: who asked, and a way back before the purge.
    list_display = (*BaseUserAdmin.list_display, "plan", "quota_exempt", "deletion_requested_at")
    list_filter = (*BaseUserAdmin.list_filter, "plan", "quota_exempt", ("deletion_requested_at", admin.EmptyFieldListFilter))
    list_select_related = ["plan"]
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        (_("Plan and quotas"), {"fields": ("plan", "quota_exempt", "default_model")}),
        (_("Deletion"), {"fields": ("deletion_requested_at",)}),
    )
    actions = ["cancel_deletion"]

    @admin.action(description=_("Cancel deletion and reactivate"))
    def cancel_deletion(self, request, queryset) -> None:
        n = sum(deletion.cancel_deletion(user) for user in queryset.filter(deletion_requested_at__isnull=False))
        self.message_user(request, ngettext("%(n)d account reactivated.", "%(n)d accounts reactivated.", n) % {"n": n}, messages.SUCCESS)


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "is_default",
        "images_per_day",
        "max_concurrent_jobs",
        "max_pixels",
        "max_steps",
        "max_images_per_job",
        "retention_days",
        "weight",
    ]
    list_editable = ["is_default"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are listed by prefix only; deleting one revokes it. They are created by their users."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["name", "user__username", "prefix"]
    fields = ["user", "name", "prefix", "created_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False
