"""Job callbacks: signed POSTs when a job ends, retries with back-off, and no requests to private addresses."""

import ast
import hashlib
import hmac
import ipaddress
import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Schedule

from accounts.models import ApiToken
from generation import events, webhooks
from generation.models import Job
from tests.generation.helpers import params, registered_node
from tests.generation.media import make_image, make_job
from tests.workers import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    """An HTTP server on 127.0.0.1 that records POSTs and answers with the queued statuses (then 200)."""
    received: list[SimpleNamespace] = []
    statuses: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(SimpleNamespace(path=self.path, headers=self.headers, body=body))
            self.send_response(statuses.pop(0) if statuses else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}/hook?from=sdp", port=server.server_port, requests=received, statuses=statuses)
    server.shutdown()
    server.server_close()


@pytest.fixture
def allow_private(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def inline_tasks(monkeypatch):
    """Run enqueued callbacks at once, in the calling thread, instead of on a django-q2 worker."""
    monkeypatch.setattr(webhooks, "async_task", lambda func, *args, **kwargs: import_string(func)(*args))


def _signed_by(user, request) -> bool:
    expected = "sha256=" + hmac.new(user.webhook_secret.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers["X-Sdplatform-Signature"], expected)


def test_it_posts_the_signed_job_state(alice, receiver, allow_private):
    job = make_job(alice, callback_url=receiver.url)
    image = make_image(alice, job=job)
    assert webhooks.deliver(job.pk, "succeeded") is True
    [request] = receiver.requests
    assert request.path == "/hook?from=sdp"
    assert request.headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Sdplatform-Event"] == "succeeded"
    assert request.headers["X-Sdplatform-Delivery"] == f"{job.code}.succeeded"
    assert _signed_by(alice, request)
    body = json.loads(request.body)
    assert (body["event"], body["job"], body["status"]) == ("succeeded", str(job.code), "succeeded")
    assert body["timestamp"] == int(request.headers["X-Sdplatform-Timestamp"])
    assert [i["image"] for i in body["images"]] == [str(image.code)]


def test_it_retries_after_a_500_then_delivers(alice, receiver, allow_private):
    receiver.statuses.append(500)
    job = make_job(alice, callback_url=receiver.url)
    assert webhooks.deliver(job.pk, "succeeded") is False
    retry = Schedule.objects.get()
    assert (retry.func, retry.schedule_type, retry.repeats) == ("generation.webhooks.deliver", Schedule.ONCE, -1)
    assert timedelta(seconds=25) < retry.next_run - timezone.now() <= timedelta(seconds=30)
    args = ast.literal_eval(retry.args)
    assert args == (job.pk, "succeeded", 2)

    # What django-q2's scheduler runs when the schedule is due.
    assert webhooks.deliver(*args) is True
    first, second = receiver.requests
    assert [r.headers["X-Sdplatform-Attempt"] for r in (first, second)] == ["1", "2"]
    assert first.headers["X-Sdplatform-Delivery"] == second.headers["X-Sdplatform-Delivery"]
    assert _signed_by(alice, first) and _signed_by(alice, second)


def test_it_backs_off_and_gives_up_after_the_last_attempt(alice, receiver, allow_private):
    job = make_job(alice, callback_url=receiver.url)
    receiver.statuses.extend([503, 404])
    webhooks.deliver(job.pk, "failed", 3)
    assert Schedule.objects.get().next_run - timezone.now() > timedelta(minutes=9)
    Schedule.objects.all().delete()
    assert webhooks.deliver(job.pk, "failed", webhooks.MAX_ATTEMPTS) is False
    assert not Schedule.objects.exists()
    assert len(receiver.requests) == 2


def test_it_retries_when_the_receiver_is_down(alice, allow_private):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    job = make_job(alice, callback_url=f"http://127.0.0.1:{port}/hook")
    assert webhooks.deliver(job.pk, "succeeded") is False
    assert ast.literal_eval(Schedule.objects.get().args) == (job.pk, "succeeded", 2)


def test_it_checks_the_address_again_when_sending(alice, receiver):
    # Stored while allowed (or a name that now resolves elsewhere): refused, and not retried.
    job = make_job(alice, callback_url=receiver.url)
    assert webhooks.deliver(job.pk, "succeeded") is False
    assert receiver.requests == []
    assert not Schedule.objects.exists()


def test_a_job_calls_back_once_when_it_ends(alice, receiver, allow_private, inline_tasks, django_capture_on_commit_callbacks):
    job = make_job(alice, status=Job.Status.RUNNING, finished_at=None, callback_url=receiver.url)
    silent = make_job(alice, status=Job.Status.RUNNING, finished_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        events.job_changed(job, "progress")
        assert job.finish(Job.Status.CANCELLED, expected=[Job.Status.RUNNING])
        events.job_changed(job, "cancelled")
        assert silent.finish(Job.Status.CANCELLED, expected=[Job.Status.RUNNING])
        events.job_changed(silent, "cancelled")
    [request] = receiver.requests
    assert json.loads(request.body)["event"] == "cancelled"


def test_queueing_a_callback_never_fails_the_job(alice, monkeypatch, django_capture_on_commit_callbacks):
    def broken(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(webhooks, "async_task", broken)
    job = make_job(alice, status=Job.Status.FAILED, callback_url="http://93.184.215.14/hook")
    with django_capture_on_commit_callbacks(execute=True):
        events.job_changed(job, "failed")


@pytest.mark.parametrize(
    "url,fragment",
    [
        ("http://10.0.0.1/hook", "not a public address"),
        ("http://169.254.169.254/latest/meta-data/", "not a public address"),
        ("http://127.0.0.1:8000/hook", "not a public address"),
        ("http://[::1]/hook", "not a public address"),
        ("http://[::ffff:192.168.1.1]/hook", "not a public address"),
        ("http://localhost:8000/hook", "not a public address"),
        ("http://224.0.0.1/hook", "not a public address"),
        ("http://0.0.0.0/hook", "not a public address"),
        ("ftp://93.184.215.14/hook", "http"),
        ("http://93.184.215.14/a hook", "valid"),
        ("http://user:pw@93.184.215.14/hook", "user name"),
        ("http://93.184.215.14:99999/hook", "valid"),
        ("http://no-such-host.invalid/hook", "could not be resolved"),
    ],
)
def test_it_refuses_callback_urls_it_will_not_call_at_submit(client, alice, url, fragment):
    registered_node()
    token = ApiToken.issue(alice, "api")[1]
    r = client.post("/api/v1/jobs", json.dumps(params(callback_url=url)), content_type="application/json", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400
    assert (r.json()["error"], r.json()["field"]) == ("invalid", "callback_url")
    assert fragment in r.json()["message"]
    assert not Job.objects.exists()


def test_it_stores_a_public_callback_url(client, alice):
    registered_node()
    token = ApiToken.issue(alice, "api")[1]
    url = "https://93.184.215.14/hooks/sd?id=7"
    r = client.post("/api/v1/jobs", json.dumps(params(callback_url=url)), content_type="application/json", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201
    assert r.json()["callback_url"] == url
    assert Job.objects.get().callback_url == url


@pytest.mark.parametrize(
    "address,public",
    [
        ("93.184.215.14", True),
        ("2606:4700:4700::1111", True),
        ("192.168.0.1", False),
        ("100.64.0.1", False),
        ("192.0.0.8", False),
        ("fd00::1", False),
        ("fe80::1", False),
        ("ff02::1", False),
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:5db8:d70e::", True),  # 6to4 of a public address
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("240.0.0.1", False),
    ],
)
def test_it_tells_public_addresses(address, public):
    assert webhooks.is_public(ipaddress.ip_address(address)) is public


@pytest.mark.django_db(transaction=True)
def test_a_job_run_on_the_cluster_lists_its_images_and_calls_back(client, alice, cluster, worker, receiver, allow_private, inline_tasks):
    cluster(1)
    headers = {"Authorization": f"Bearer {ApiToken.issue(alice, 'api')[1]}"}
    r = client.post("/api/v1/jobs", json.dumps(params(batch_size=2, callback_url=receiver.url)), content_type="application/json", headers=headers)
    assert r.status_code == 201, r.json()
    code = r.json()["job"]
    worker.wait()
    wait_for(lambda: receiver.requests, what="the callback")

    job = client.get(f"/api/v1/jobs/{code}", headers=headers).json()
    assert (job["status"], job["progress"]) == ("succeeded", 1.0)
    assert [image["seed"] for image in job["images"]] == [1234, 1235]
    listed = client.get("/api/v1/images", {"job": code}, headers=headers).json()
    assert listed["count"] == 2
    assert {image["image"] for image in listed["items"]} == {image["image"] for image in job["images"]}
    r = client.get(job["images"][0]["url"], headers=headers)
    assert r.status_code == 200
    assert b"".join(r.streaming_content).startswith(b"\x89PNG")

    [request] = receiver.requests
    assert _signed_by(alice, request)
    body = json.loads(request.body)
    assert (body["event"], body["job"], len(body["images"])) == ("succeeded", code, 2)
