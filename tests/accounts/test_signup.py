import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def _sign_up(client, username: str = "dora", email: str = "dora@example.org"):
    return client.post(
        reverse("account_signup"),
        {"username": username, "email": email, "password1": PASSWORD, "password2": PASSWORD},
    )


def _confirmation_url(message) -> str:
    match = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


def test_it_signs_up_verifies_logs_in_and_out(client):
    r = _sign_up(client)
    assert r.status_code == 302
    assert r.url == reverse("account_email_verification_sent")
    user = get_user_model().objects.get(username="dora")
    assert user.email == "dora@example.org"
    assert not user.emailaddress_set.get().verified

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["dora@example.org"]
    url = _confirmation_url(mail.outbox[0])

    r = client.get(url)
    assert r.status_code == 200
    r = client.post(url)
    assert r.status_code == 302
    assert user.emailaddress_set.get().verified

    client.logout()
    r = client.post(reverse("account_login"), {"login": "dora", "password": PASSWORD})
    assert r.status_code == 302
    assert r.url == reverse("generation:generate")
    r = client.get(reverse("home"))
    assert r.context["user"].username == "dora"

    r = client.post(reverse("account_logout"))
    assert r.status_code == 302
    r = client.get(reverse("home"))
    assert not r.context["user"].is_authenticated


def test_it_logs_in_with_the_email_address(client, alice):
    r = client.post(reverse("account_login"), {"login": "alice@example.org", "password": "password"})
    assert r.status_code == 302
    assert client.get(reverse("home")).context["user"] == alice


def test_it_refuses_login_before_the_email_is_verified(client):
    _sign_up(client)
    client.logout()
    r = client.post(reverse("account_login"), {"login": "dora", "password": PASSWORD})
    assert r.status_code == 302
    assert r.url == reverse("account_email_verification_sent")
    assert not client.get(reverse("home")).context["user"].is_authenticated


def test_it_shows_form_errors_for_a_taken_username_and_bad_password(client, alice):
    r = client.post(
        reverse("account_signup"),
        {"username": "alice", "email": "new@example.org", "password1": "123", "password2": "123"},
    )
    assert r.status_code == 200
    form = r.context["form"]
    assert "username" in form.errors
    assert "password1" in form.errors
    assert get_user_model().objects.count() == 1


def test_it_rejects_a_wrong_password(client, alice):
    r = client.post(reverse("account_login"), {"login": "alice", "password": "wrong"})
    assert r.status_code == 200
    assert r.context["form"].errors
    assert not client.get(reverse("home")).context["user"].is_authenticated


def test_it_changes_the_password(client, alice):
    client.force_login(alice)
    r = client.post(
        reverse("account_change_password"),
        {"oldpassword": "password", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert r.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_it_sends_a_password_reset_link(client, alice):
    r = client.post(reverse("account_reset_password"), {"email": "alice@example.org"})
    assert r.status_code == 302
    assert len(mail.outbox) == 1
    match = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/[^\s]+/)", mail.outbox[0].body)
    assert match, mail.outbox[0].body
    r = client.get(match.group(1), follow=True)
    assert r.status_code == 200
    r = client.post(r.redirect_chain[-1][0], {"password1": PASSWORD, "password2": PASSWORD})
    assert r.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
