from django.dispatch import Signal

# Sent with ``user=`` when an account asks to be deleted (and is deactivated).
# ``generation`` connects to it to cancel the account's queued and running
# jobs: accounts never imports generation.
deletion_requested = Signal()
