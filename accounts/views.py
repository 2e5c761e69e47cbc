from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts import deletion
from accounts.forms import DeleteAccountForm, TokenForm
from accounts.models import ApiToken


@login_required
@require_http_methods(["GET", "POST"])
def delete_account(request: HttpRequest) -> HttpResponse:
    form = DeleteAccountForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        user = request.user
        deletion.request_deletion(user)
        logout(request)
        # Messages outlive the logout: they travel in a cookie first.
        when = date_format(timezone.localtime(deletion.purge_date(user)), "DATETIME_FORMAT")
        messages.warning(
            request,
            _("Your account is deactivated. It will be deleted with all your images and jobs on %(date)s. Log in again before then to cancel the deletion.")
            % {"date": when},
        )
        return redirect("home")
    retention_days = request.user.get_plan().retention_days
    return render(request, "account/delete.html", {"form": form, "retention_days": retention_days})


def _get_token_for_user(request: HttpRequest, pk: int) -> ApiToken:
    return get_object_or_404(ApiToken, pk=pk, user=request.user)


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """List the caller's tokens; a POST creates one and shows it this once."""
    form = TokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        _, new_token = ApiToken.issue(request.user, form.cleaned_data["name"])
        form = TokenForm()
    context = {"form": form, "tokens": request.user.api_tokens.all(), "new_token": new_token}
    return render(request, "account/tokens.html", context)


@login_required
@require_POST
def revoke_token(request: HttpRequest, pk: int) -> HttpResponse:
    token = _get_token_for_user(request, pk)
    token.delete()
    messages.success(request, _("Token “%(name)s” revoked; it stops working at once.") % {"name": token.name})
    return redirect("accounts:tokens")
