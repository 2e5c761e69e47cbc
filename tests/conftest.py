import pytest
from allauth.account.models import EmailAddress

pytest_plugins = ["tests.simnodes", "tests.workers"]


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # Rate-limit counters live in the cache and would carry over between tests.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _fast_tests(settings):
    # Hashing passwords the production way would dominate the suite's runtime.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SECURE_COOKIES = False
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False


def _make_user(django_user_model, username: str):
    user = django_user_model.objects.create_user(username, f"{username}@example.org", "password")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def alice(django_user_model):
    """The owner in ownership tests."""
    return _make_user(django_user_model, "alice")


@pytest.fixture
def bob(django_user_model):
    return _make_user(django_user_model, "bob")


@pytest.fixture
def charlie(django_user_model):
    """An outsider."""
    return _make_user(django_user_model, "charlie")
