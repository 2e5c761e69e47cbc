import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_it_creates_a_verified_superuser_and_prints_its_password_once(capsys, client):
    call_command("ensureadmin")
    out = capsys.readouterr().out
    password = re.search(r"Password: (\S+)", out).group(1)
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert admin.check_password(password)
    assert admin.emailaddress_set.get().verified

    call_command("ensureadmin")
    out = capsys.readouterr().out
    assert "Password" not in out
    assert get_user_model().objects.filter(is_superuser=True).count() == 1

    r = client.post("/accounts/login/", {"login": "admin", "password": password})
    assert r.status_code == 302
    assert client.get("/admin/").status_code == 200
