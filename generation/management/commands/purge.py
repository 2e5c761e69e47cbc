from django.core.management.base import BaseCommand
from django.db import models
from django.utils import timezone

from generation import purge


class Command(BaseCommand):
    help = (
        "Delete for good what has been in the trash longer than its owner's plan retention, and accounts "
        "whose deletion is due (the daily 'purge trash' schedule does the same). With --orphans, deal with "
        "files that no row names instead."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="only list what would be removed; change nothing")
        parser.add_argument(
            "--orphans",
            action="store_true",
            help="list files under images/, thumbs/ and inputs/ that no row names, and rows whose file is missing; "
            "delete those files (never rows) unless --dry-run",
        )

    def handle(self, *args, dry_run: bool, orphans: bool, **options) -> None:
        if orphans:
            self._orphans(dry_run)
            return
        verb = "Would remove" if dry_run else "Removed"
        counts = purge.purge_trash(dry_run=dry_run, report=lambda kind, row: self.stdout.write(f"{verb} {_describe(kind, row)}"))
        self.stdout.write(f"{verb}: {counts}.")

    def _orphans(self, dry_run: bool) -> None:
        files, missing = purge.find_orphans()
        for row, name in missing:
            self.stdout.write(f"Missing file: {name} ({row})")
        for name in files:
            self.stdout.write(f"{'Orphan file' if dry_run else 'Deleting orphan file'}: {name}")
        deleted = 0 if dry_run else purge.delete_orphans(files)
        summary = f"{len(files)} orphan file(s), {len(missing)} row(s) with a missing file"
        self.stdout.write(f"{summary}; {'nothing deleted (dry run)' if dry_run else f'{deleted} file(s) deleted'}.")


def _describe(kind: str, row: models.Model) -> str:
    if kind == "account":
        return f"account {row} (deletion requested {_when(row.deletion_requested_at)})"
    since = f"in the trash since {_when(row.deleted_at)}" if row.deleted_at else "with the account"
    return f"{kind} {row.code} of {row.owner} ({since})"


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"
