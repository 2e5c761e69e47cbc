from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from cluster.health import check_nodes
from cluster.models import Node

STATE_BADGES = {
    Node.State.HEALTHY: "#1a7f37",
    Node.State.UNHEALTHY: "#cf222e",
    Node.State.UNKNOWN: "#6e7781",
}


class NodeForm(forms.ModelForm):
    url = forms.URLField(label=_("base URL"), assume_scheme="http", help_text=Node._meta.get_field("url").help_text)
    # Never render the stored password back into the page; empty keeps it.
    auth_password = forms.CharField(
        label=_("API password"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Leave empty to keep the current password."),
    )
    clear_password = forms.BooleanField(label=_("Remove the stored password"), required=False)

    class Meta:
        model = Node
        fields = ["name", "url", "auth_user", "auth_password", "clear_password", "capacity", "enabled", "draining"]

    def clean_auth_password(self) -> str:
        password = self.cleaned_data["auth_password"]
        if self.cleaned_data.get("clear_password"):
            return ""
        return password or (self.instance.auth_password if self.instance.pk else "")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("clear_password"):
            cleaned["auth_password"] = ""
        return cleaned


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    form = NodeForm
    list_display = [
        "name",
        "state_badge",
        "enabled",
        "draining",
        "capacity",
        "model_loaded",
        "vram",
        "latency_ms",
        "failures",
        "last_check_at",
        "has_auth",
    ]
    list_filter = ["state", "enabled", "draining"]
    search_fields = ["name", "url"]
    readonly_fields = [
        "state",
        "last_check_at",
        "last_ok_at",
        "failures",
        "last_error",
        "latency_ms",
        "model_loaded",
        "vram_used",
        "vram_total",
        "version",
        "images_done",
        "models_available",
        "samplers",
    ]
    actions = ["enable", "disable", "drain", "undrain", "check_now"]

    @admin.display(description=_("state"), ordering="state")
    def state_badge(self, node: Node) -> str:
        return format_html(
            '<span style="color:#fff;background:{};padding:2px 8px;border-radius:8px">{}</span>',
            STATE_BADGES[node.state],
            node.get_state_display(),
        )

    @admin.display(description=_("VRAM"))
    def vram(self, node: Node) -> str:
        if not node.vram_total:
            return "–"
        return f"{(node.vram_used or 0) / 2**30:.1f} / {node.vram_total / 2**30:.1f} GiB"

    @admin.display(description=_("auth"), boolean=True)
    def has_auth(self, node: Node) -> bool:
        return bool(node.auth_user)

    def _done(self, request: HttpRequest, count: int, singular: str, plural: str) -> None:
        self.message_user(request, ngettext(singular, plural, count) % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Enable the selected nodes"))
    def enable(self, request: HttpRequest, queryset: QuerySet[Node]) -> None:
        self._done(request, queryset.update(enabled=True), "%(count)d node enabled.", "%(count)d nodes enabled.")

    @admin.action(description=_("Disable the selected nodes"))
    def disable(self, request: HttpRequest, queryset: QuerySet[Node]) -> None:
        self._done(request, queryset.update(enabled=False), "%(count)d node disabled.", "%(count)d nodes disabled.")

    @admin.action(description=_("Drain the selected nodes (finish running jobs, take no new ones)"))
    def drain(self, request: HttpRequest, queryset: QuerySet[Node]) -> None:
        self._done(request, queryset.update(draining=True), "%(count)d node draining.", "%(count)d nodes draining.")

    @admin.action(description=_("Stop draining the selected nodes"))
    def undrain(self, request: HttpRequest, queryset: QuerySet[Node]) -> None:
        self._done(
            request, queryset.update(draining=False), "%(count)d node takes jobs again.", "%(count)d nodes take jobs again."
        )

    @admin.action(description=_("Check the selected nodes now"))
    def check_now(self, request: HttpRequest, queryset: QuerySet[Node]) -> None:
        for result in check_nodes(list(queryset)):
            if result.ok:
                self.message_user(
                    request,
                    _("%(node)s is healthy (%(ms)d ms).") % {"node": result.node.name, "ms": result.latency_ms},
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request,
                    _("%(node)s failed: %(error)s") % {"node": result.node.name, "error": result.error},
                    messages.ERROR,
                )
