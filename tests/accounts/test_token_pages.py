import re

import pytest
from django.urls import reverse

from accounts.models import ApiToken, hash_token

pytestmark = pytest.mark.django_db


def test_it_creates_a_token_and_shows_it_only_once(client, alice):
    client.force_login(alice)
    r = client.post(reverse("accounts:tokens"), {"name": "krita"})
    assert r.status_code == 200
    token = re.search(r"(sdp_[A-Za-z0-9_-]{20,})", r.content.decode()).group(1)
    row = ApiToken.objects.get(user=alice)
    assert (row.name, row.key_hash) == ("krita", hash_token(token))
    r = client.get(reverse("accounts:tokens"))
    html = r.content.decode()
    assert "krita" in html and row.prefix in html
    assert token not in html


def test_it_requires_a_name(client, alice):
    client.force_login(alice)
    r = client.post(reverse("accounts:tokens"), {"name": ""})
    assert r.status_code == 200
    assert r.context["form"].errors["name"]
    assert not ApiToken.objects.exists()


def test_it_lists_only_the_callers_tokens(client, alice, bob):
    ApiToken.issue(bob, "bobs-secret-script")
    client.force_login(alice)
    assert "bobs-secret-script" not in client.get(reverse("accounts:tokens")).content.decode()


def test_it_revokes_a_token(client, alice):
    row, _ = ApiToken.issue(alice, "old")
    client.force_login(alice)
    r = client.post(reverse("accounts:revoke-token", args=[row.pk]))
    assert r.status_code == 302
    assert not ApiToken.objects.exists()


def test_it_does_not_revoke_another_users_token(client, alice, charlie):
    row, _ = ApiToken.issue(alice, "mine")
    client.force_login(charlie)
    assert client.post(reverse("accounts:revoke-token", args=[row.pk])).status_code == 404
    assert ApiToken.objects.filter(pk=row.pk).exists()


def test_it_requires_login(client):
    assert client.get(reverse("accounts:tokens")).status_code == 302


def test_revoking_needs_post(client, alice):
    row, _ = ApiToken.issue(alice, "mine")
    client.force_login(alice)
    assert client.get(reverse("accounts:revoke-token", args=[row.pk])).status_code == 405


def test_the_admin_never_shows_a_token(admin_client, alice):
    _, token = ApiToken.issue(alice, "ci")
    for url in ("/admin/accounts/apitoken/", "/admin/accounts/user/%d/change/" % alice.pk):
        r = admin_client.get(url)
        assert r.status_code in (200, 404)
        assert token not in r.content.decode()


def test_it_shows_the_callers_webhook_secret_and_nobody_elses(client, alice, bob):
    client.force_login(alice)
    html = client.get(reverse("accounts:tokens")).content.decode()
    assert alice.webhook_secret in html
    assert bob.webhook_secret not in html
    assert alice.webhook_secret != bob.webhook_secret
