from django.core.management.base import BaseCommand

from sdplatform.schedules import declared_schedules, sync_schedules


class Command(BaseCommand):
    help = "Write the periodic tasks declared in code to django-q2's schedule table (run after migrate)."

    def handle(self, *args, **options) -> None:
        counts = sync_schedules(declared_schedules())
        self.stdout.write("Schedules: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
