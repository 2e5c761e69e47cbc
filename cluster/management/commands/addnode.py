from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cluster.models import Node


class Command(BaseCommand):
    help = "Register an SD node, or update the one with this name."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("url", help="base URL of the webui, e.g. http://10.0.0.11:7860")
        parser.add_argument("--capacity", type=int, default=1, help="jobs at once (default 1)")
        parser.add_argument(
            "--auth", default=None, help="user:pass, as given to the webui's --api-auth ('' removes stored credentials)"
        )

    def handle(self, *args, name: str, url: str, capacity: int, auth: str | None, **options) -> None:
        user, sep, password = (auth or "").partition(":")
        if auth and not (sep and user and password):
            raise CommandError("--auth must look like user:pass")
        if capacity < 1:
            raise CommandError("--capacity must be at least 1")
        node = Node.objects.filter(name=name).first() or Node(name=name)
        node.url, node.capacity = url.rstrip("/"), capacity
        if auth is not None:  # without --auth an update keeps the stored credentials
            node.auth_user, node.auth_password = user, password
        try:
            node.full_clean()
        except ValidationError as e:
            raise CommandError("; ".join(f"{field}: {' '.join(errs)}" for field, errs in e.message_dict.items()))
        created = node.pk is None
        node.save()
        self.stdout.write(f"{'Added' if created else 'Updated'} node {name} at {node.url} (capacity {capacity}).")
