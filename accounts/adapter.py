from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest
from django.utils.translation import gettext as _

from accounts import deletion


class AccountAdapter(DefaultAccountAdapter):
    """All allauth glue lives here (STYLE rule 22)."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return settings.ACCOUNT_ALLOW_SIGNUPS

    def authenticate(self, request: HttpRequest, **credentials):
        """Signing in with the right password cancels a pending account deletion.

        Django's backends refuse inactive users, but allauth hands back the
        user whose password matched so it can show "account inactive"; such a
        user whose deletion is still within the retention is reactivated here,
        before allauth's inactive check (pre_login). After the retention the
        account stays inactive until the purge removes it.
        """
        user = super().authenticate(request, **credentials)
        if user is not None and not user.is_active and deletion.can_cancel(user) and deletion.cancel_deletion(user):
            messages.success(request, _("Welcome back! Your account will not be deleted."))
        return user
