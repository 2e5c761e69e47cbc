from django.core.management import call_command


def clear_expired_sessions() -> None:
    call_command("clearsessions")
