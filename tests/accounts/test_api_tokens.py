import base64
import logging

import pytest
from django.core.management import call_command

from accounts.auth import authenticate_request, credentials
from accounts.models import ApiToken, hash_token

pytestmark = pytest.mark.django_db


def _basic(username: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode()


def test_it_stores_only_a_hash_and_a_short_prefix(alice):
    row, token = ApiToken.issue(alice, "laptop")
    assert token.startswith("sdp_") and len(token) > 40
    assert row.key_hash == hash_token(token) != token
    assert token.startswith(row.prefix) and len(row.prefix) == 10
    assert token not in str(row.__dict__)


def test_it_authenticates_bearer_and_basic_and_records_last_use(rf, alice):
    row, token = ApiToken.issue(alice, "ci")
    assert row.last_used_at is None
    assert authenticate_request(rf.get("/", HTTP_AUTHORIZATION=f"Bearer {token}")) == alice
    assert authenticate_request(rf.get("/", HTTP_AUTHORIZATION=_basic("alice", token))) == alice
    row.refresh_from_db()
    assert row.last_used_at is not None


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer sdp_wrong", "Token sdp_x", "Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode()],
)
def test_it_rejects_bad_credentials(rf, alice, header):
    ApiToken.issue(alice, "ci")
    assert authenticate_request(rf.get("/", HTTP_AUTHORIZATION=header)) is None


def test_basic_auth_needs_the_tokens_own_username(rf, alice, bob):
    _, token = ApiToken.issue(alice, "ci")
    assert authenticate_request(rf.get("/", HTTP_AUTHORIZATION=_basic("bob", token))) is None


def test_a_revoked_token_stops_working_at_once(rf, alice):
    row, token = ApiToken.issue(alice, "ci")
    row.delete()
    assert authenticate_request(rf.get("/", HTTP_AUTHORIZATION=f"Bearer {token}")) is None


def test_a_deactivated_users_token_does_not_work(rf, alice):
    _, token = ApiToken.issue(alice, "ci")
    alice.is_active = False
    alice.save()
    assert authenticate_request(rf.get("/", HTTP_AUTHORIZATION=f"Bearer {token}")) is None


def test_tokens_do_not_authenticate_website_pages(client, alice):
    _, token = ApiToken.issue(alice, "ci")
    r = client.get("/generate/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 302  # to the login page


def test_createtoken_prints_only_the_token(capsys, alice, caplog):
    caplog.set_level(logging.DEBUG)
    call_command("createtoken", "alice", "--name", "deploy")
    out = capsys.readouterr().out.strip()
    assert out.startswith("sdp_") and "\n" not in out
    row = ApiToken.objects.get(user=alice)
    assert row.name == "deploy" and row.key_hash == hash_token(out)
    assert out not in caplog.text


def test_createtoken_explains_an_unknown_user(alice):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("createtoken", "nobody")


def test_credentials_parsing():
    assert credentials("Bearer abc") == (None, "abc")
    assert credentials(_basic("u", "t:with:colons")) == ("u", "t:with:colons")
    assert credentials("Digest x") is None
