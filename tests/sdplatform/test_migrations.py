import pytest
from django.core.management import call_command


@pytest.mark.django_db(databases=["default", "channels"])
def test_it_has_no_missing_migrations():
    # The test database was built by applying every migration (on MariaDB in CI);
    # this checks the models do not drift from them.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
