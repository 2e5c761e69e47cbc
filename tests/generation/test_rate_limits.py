import pytest
from django.urls import reverse

from tests.generation.helpers import params, registered_node

pytestmark = pytest.mark.django_db


def test_it_limits_submissions_per_user_with_a_429_that_says_when_to_retry(client, alice, settings):
    settings.SUBMIT_RATE_PER_USER = "2/m"
    registered_node()
    client.force_login(alice)
    for _ in range(2):
        assert client.post(reverse("generation:create-job"), params()).status_code == 201
    r = client.post(reverse("generation:create-job"), params())
    assert r.status_code == 429
    body = r.json()
    assert body["error"] == "rate_limited"
    assert "2/m" in body["message"]
    assert 1 <= int(r["Retry-After"]) <= 61


def test_it_limits_submissions_per_address_across_users(client, alice, bob, settings):
    settings.SUBMIT_RATE_PER_IP = "3/m"
    registered_node()
    for user in (alice, bob, alice):
        client.force_login(user)
        assert client.post(reverse("generation:create-job"), params()).status_code == 201
    client.force_login(bob)
    r = client.post(reverse("generation:create-job"), params())
    assert r.status_code == 429
    assert "address" in r.json()["message"]


def test_login_attempts_are_limited(client, alice):
    for _ in range(5):
        r = client.post(reverse("account_login"), {"login": "alice", "password": "wrong"})
        assert r.status_code == 200
    r = client.post(reverse("account_login"), {"login": "alice", "password": "password"})
    # Even the right password is refused until the window passes.
    assert r.status_code == 200
    assert "Too many failed login attempts" in r.content.decode()
    assert not client.get("/").context["user"].is_authenticated
