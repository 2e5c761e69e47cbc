"""Job callbacks: when a job ends, POST its state to the ``callback_url`` given at submit.

The body is the job's public state (``job_state``, as on the websocket) plus
``event`` and ``timestamp``. It is signed with HMAC-SHA256 over the raw body
using the owner's ``User.webhook_secret``::

    X-Sdplatform-Signature: sha256=<hex>
    X-Sdplatform-Timestamp: <unix seconds, also in the body>
    X-Sdplatform-Delivery:  <job code>.<event>  (the same on every retry: dedupe on it)

A delivery that fails (connection error, timeout, any answer but 2xx) is
retried with back-off through django-q2 ``Schedule`` rows of type ONCE, so no
worker sleeps between attempts, up to MAX_ATTEMPTS in all.

Callbacks never go to loopback, private, link-local, multicast or reserved
addresses unless settings.WEBHOOK_ALLOW_PRIVATE is True. The host is resolved
and every address checked when the job is submitted, and again before each
attempt; the connection then goes to the address that was checked, so DNS
cannot answer differently between the check and the connect (rebinding).
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from datetime import timedelta
from functools import partial
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.models import Schedule
from django_q.tasks import async_task

from generation.models import Job
from generation.queue import job_state

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# Wait before attempts 2, 3, 4 and 5. django-q2's scheduler looks at due schedules about every 30 s.
BACKOFF = [timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(hours=1)]
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
ENDING_EVENTS = {Job.Status.SUCCEEDED, Job.Status.FAILED, Job.Status.CANCELLED, Job.Status.EXPIRED}
# Not global, though ipaddress calls them so on Python 3.11.
_NOT_PUBLIC = [ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("64:ff9b::/96")]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(Exception):
    """A callback URL the platform will not call; the message is for the user."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.message = message
        self.transient = transient  # a DNS failure may pass; a refused address will not


def _allow_private() -> bool:
    return getattr(settings, "WEBHOOK_ALLOW_PRIVATE", False)


def is_public(ip: IPAddress) -> bool:
    """May a callback go to this address? Addresses embedded in IPv6 (mapped, 6to4, Teredo) count as themselves."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return is_public(embedded)
    bad = ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    return ip.is_global and not bad and not any(ip in net for net in _NOT_PUBLIC)


def resolve(url: str) -> list[IPAddress]:
    """Check ``url`` and return the addresses a callback may connect to; raises UnsafeURL.

    1. Only http and https, with a host, an optional port and no user:password.
    2. Resolve the host (an IP literal resolves to itself).
    3. Unless WEBHOOK_ALLOW_PRIVATE, refuse if any address is not public:
       a host with one private address among public ones is refused too.
    """
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeURL(_("Enter a valid http or https URL.")) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() or not c.isprintable() for c in url):
        raise UnsafeURL(_("Enter a valid http or https URL."))
    if parts.username or parts.password:
        raise UnsafeURL(_("The callback URL must not contain a user name or password."))
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeURL(_("The host %(host)s could not be resolved.") % {"host": parts.hostname}, transient=True) from None
    addresses: list[IPAddress] = []
    for *_ignored, sockaddr in infos:
        ip = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])  # drop an IPv6 zone id
        if ip not in addresses:
            addresses.append(ip)
    if not _allow_private():
        for ip in addresses:
            if not is_public(ip):
                raise UnsafeURL(
                    _("Callbacks may not go to %(host)s: it resolves to %(ip)s, which is not a public address.")
                    % {"host": parts.hostname, "ip": ip}
                )
    return addresses


def job_ended(job: Job, event: str) -> None:
    """Queue the callback of a job that just ended, after the transaction commits; never raises.

    Called by ``events.job_changed`` for every event. A job reaches a final
    state by one compare-and-set, so exactly one caller sees ``event``
    equal to the final status.
    """
    try:
        if event in ENDING_EVENTS and event == job.status and job.callback_url:
            transaction.on_commit(partial(enqueue, job.pk, event), robust=True)
    except Exception:
        log.warning("job %s: could not queue the %s callback", job.pk, event, exc_info=True)


def enqueue(job_id: int, event: str) -> None:
    try:
        async_task("generation.webhooks.deliver", job_id, event, 1, task_name=f"webhook-{job_id}-{event}")
    except Exception:
        log.warning("job %s: could not enqueue the %s callback", job_id, event, exc_info=True)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(job_id: int, event: str, attempt: int = 1) -> bool:
    """django-q2 task: one delivery attempt; schedules the next one on failure. True when delivered."""
    job = Job.objects.select_related("owner", "node").filter(pk=job_id).first()
    if job is None or not job.callback_url:
        return False  # purged meanwhile, or the URL was removed
    timestamp = int(time.time())
    body = json.dumps({"event": event, "timestamp": timestamp, **job_state(job)}, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "sdplatform-webhook/1",
        "X-Sdplatform-Event": event,
        "X-Sdplatform-Delivery": f"{job.code}.{event}",
        "X-Sdplatform-Attempt": str(attempt),
        "X-Sdplatform-Timestamp": str(timestamp),
        "X-Sdplatform-Signature": signature(job.owner.webhook_secret, body),
    }
    try:
        status = post(job.callback_url, body, headers)
    except UnsafeURL as e:
        if not e.transient:
            log.warning("job %s: callback to %s refused: %s", job.code, job.callback_url, e.message)
            return False
        error = e.message
    except (urllib3.exceptions.HTTPError, OSError) as e:
        error = str(e)
    else:
        if 200 <= status < 300:
            log.info("job %s: %s callback delivered (attempt %d)", job.code, event, attempt)
            return True
        error = f"HTTP {status}"
    _retry_later(job, event, attempt, error)
    return False


def _retry_later(job: Job, event: str, attempt: int, error: str) -> None:
    if attempt >= MAX_ATTEMPTS:
        log.warning("job %s: %s callback failed %d times, giving up: %s", job.code, event, attempt, error)
        return
    delay = BACKOFF[min(attempt, len(BACKOFF)) - 1]
    log.info("job %s: %s callback failed (%s), attempt %d in %s", job.code, event, error, attempt + 1, delay)
    # repeats=-1: the scheduler deletes a ONCE schedule after it ran.
    Schedule.objects.create(
        name=f"webhook {job.code} {event} #{attempt + 1}",
        func="generation.webhooks.deliver",
        args=repr((job.pk, event, attempt + 1)),
        schedule_type=Schedule.ONCE,
        repeats=-1,
        next_run=timezone.now() + delay,
    )


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST to the checked addresses of ``url`` in turn until one connects; returns the HTTP status.

    The connection goes to the address itself, with Host (and for https the
    SNI name and the certificate check) taken from the URL. Redirects are not
    followed: they could lead anywhere.
    """
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT)
    last_error: Exception | None = None
    for ip in resolve(url):
        if parts.scheme == "https":
            pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
                str(ip), port, timeout=timeout, retries=False, maxsize=1,
                server_hostname=parts.hostname, assert_hostname=parts.hostname,
                cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
            )  # fmt: skip
        else:
            pool = urllib3.HTTPConnectionPool(str(ip), port, timeout=timeout, retries=False, maxsize=1)
        try:
            r = pool.urlopen("POST", path, body=body, headers={**headers, "Host": parts.netloc}, redirect=False, retries=False, preload_content=False)
            r.release_conn()
            return r.status
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as e:
            last_error = e  # try the host's next address (e.g. IPv6 without a route)
        finally:
            pool.close()
    assert last_error is not None  # resolve() returns at least one address or raises
    raise last_error

