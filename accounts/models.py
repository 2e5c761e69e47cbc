from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """The platform's user; custom from the first migration so fields can be added later."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
