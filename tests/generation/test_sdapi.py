"""The A1111-compatible API at /sdapi/v1/: A1111's shapes, token auth, ownership and the wait for a job."""

import base64
import io
import json
import re
import threading
import time

import pytest
from django.db import connection
from PIL import Image as PILImage
from PIL import PngImagePlugin

from accounts.models import ApiToken, Plan
from cluster.models import Node
from cluster.simulator import render
from generation import dispatch
from generation.models import Image, Job
from tests.generation.helpers import MODEL, registered_node, submit
from tests.workers import wait_for

pytestmark = pytest.mark.django_db

SDXL = "sd_xl_base_1.0.safetensors [31e35c80fc]"
ROUTES = [
    ("post", "txt2img"),
    ("post", "img2img"),
    ("post", "extra-single-image"),
    ("post", "png-info"),
    ("get", "progress"),
    ("post", "interrupt"),
    ("post", "skip"),
    ("get", "options"),
    ("post", "options"),
    ("get", "sd-models"),
    ("get", "samplers"),
    ("get", "schedulers"),
    ("get", "upscalers"),
    ("get", "scripts"),
]


def _basic(username: str, token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode()}


@pytest.fixture
def alice_auth(alice):
    return _basic("alice", ApiToken.issue(alice, "test")[1])


@pytest.fixture
def bob_auth(bob):
    return _basic("bob", ApiToken.issue(bob, "test")[1])


def _call(client, method: str, route: str, auth: dict | None = None, body=None, **query):
    url = f"/sdapi/v1/{route}"
    if method == "get":
        return client.get(url, query, headers=auth or {})
    data = body if isinstance(body, (str, bytes)) else json.dumps(body if body is not None else {})
    return client.post(url, data, content_type="application/json", headers=auth or {})


def _txt2img(client, auth, **body):
    fields = {"prompt": "a lighthouse", "steps": 3, "width": 64, "height": 64, "seed": 1000, "sampler_name": "Euler a"}
    return _call(client, "post", "txt2img", auth, fields | body)


def _png(width: int = 64, height: int = 64, parameters: str | None = None) -> str:
    info = PngImagePlugin.PngInfo()
    if parameters:
        info.add_text("parameters", parameters)
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), (200, 40, 40)).save(out, format="PNG", pnginfo=info)
    return base64.b64encode(out.getvalue()).decode()


def _decode(data: str) -> PILImage.Image:
    return PILImage.open(io.BytesIO(base64.b64decode(data)))


@pytest.fixture
def jobs_end(monkeypatch):
    """Instead of running on a node, a dispatched job ends at once with the given status
    (None: it stays assigned), so the generation views can be tested without nodes."""
    outcome: dict = {"status": None, "error": ""}

    def start(job: Job) -> None:
        if outcome["status"]:
            job.finish(outcome["status"], error=outcome["error"])

    monkeypatch.setattr(dispatch, "_start_task", start)
    return outcome


# Authentication


@pytest.mark.parametrize("method,route", ROUTES)
def test_it_requires_credentials_on_every_route(client, method, route):
    r = _call(client, method, route)
    assert r.status_code == 401
    assert r.json() == {"detail": "Not authenticated"}


@pytest.mark.parametrize("case", ["wrong user", "wrong token", "revoked token", "inactive user", "not a token"])
def test_it_refuses_wrong_credentials(client, alice, bob, case):
    row, token = ApiToken.issue(alice, "test")
    username = "alice"
    if case == "wrong user":
        username = "bob"
    elif case == "wrong token":
        token = token[:-4] + "xxxx"
    elif case == "revoked token":
        row.delete()
    elif case == "inactive user":
        alice.is_active = False
        alice.save()
    elif case == "not a token":
        token = "password"
    r = _call(client, "get", "sd-models", _basic(username, token))
    assert r.status_code == 401
    assert r.json() == {"detail": "Incorrect username or password"}


def test_it_accepts_basic_and_bearer_credentials_without_csrf(alice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    registered_node()
    _, token = ApiToken.issue(alice, "test")
    assert _call(client, "get", "sd-models", _basic("alice", token)).status_code == 200
    assert _call(client, "get", "sd-models", {"Authorization": f"Bearer {token}"}).status_code == 200
    assert _call(client, "post", "interrupt", _basic("alice", token)).status_code == 200


def test_it_ignores_a_session_login(client, alice):
    client.force_login(alice)
    r = _call(client, "post", "interrupt")
    assert r.status_code == 401


def test_it_answers_unknown_routes_and_methods_like_fastapi(alice_auth):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)  # A1111 clients send no CSRF token
    r = _call(client, "get", "no-such-route", alice_auth)
    assert (r.status_code, r.json()) == (404, {"detail": "Not Found"})
    r = _call(client, "post", "no-such-route", alice_auth)
    assert (r.status_code, r.json()) == (404, {"detail": "Not Found"})
    r = _call(client, "get", "txt2img")  # the method is checked before the credentials
    assert (r.status_code, r.json()) == (405, {"detail": "Method Not Allowed"})
    r = _call(client, "post", "sd-models", alice_auth)
    assert (r.status_code, r.json()) == (405, {"detail": "Method Not Allowed"})


# What the cluster offers


def test_it_lists_the_models_of_healthy_nodes_once(client, alice_auth):
    registered_node("gpu1")
    registered_node("gpu2", models_available=[{"title": "anything-v5.safetensors [aaaaaaaaaa]", "model_name": "anything-v5", "hash": "aaaaaaaaaa", "filename": "/m/anything-v5.safetensors"}])
    registered_node("gpu3", state=Node.State.UNHEALTHY, models_available=[{"title": "hidden.safetensors", "model_name": "hidden", "hash": None, "filename": "hidden.safetensors"}])
    r = _call(client, "get", "sd-models", alice_auth)
    assert r.status_code == 200
    models = r.json()
    assert [m["title"] for m in models] == ["anything-v5.safetensors [aaaaaaaaaa]", SDXL, f"{MODEL} [6ce0161689]"]
    assert set(models[0]) == {"title", "model_name", "hash", "sha256", "filename", "config"}
    assert models[0]["model_name"] == "anything-v5"


def test_it_lists_samplers_schedulers_upscalers_and_scripts(client, alice_auth):
    registered_node()  # not reachable: the lists a node would give come from A1111's defaults
    samplers = _call(client, "get", "samplers", alice_auth).json()
    assert sorted(s["name"] for s in samplers) == ["DPM++ 2M", "Euler", "Euler a"]
    assert set(samplers[0]) == {"name", "aliases", "options"}
    schedulers = _call(client, "get", "schedulers", alice_auth).json()
    assert {"name": "karras", "label": "Karras"}.items() <= schedulers[2].items()
    upscalers = _call(client, "get", "upscalers", alice_auth).json()
    assert "R-ESRGAN 4x+" in [u["name"] for u in upscalers]
    assert _call(client, "get", "scripts", alice_auth).json() == {"txt2img": [], "img2img": []}


def test_it_keeps_a_default_model_per_user(client, alice, alice_auth, bob_auth):
    registered_node(model_loaded=f"{MODEL} [6ce0161689]")
    r = _call(client, "post", "options", alice_auth, {"sd_model_checkpoint": "sd_xl_base_1.0", "CLIP_stop_at_last_layers": 2})
    assert r.status_code == 200
    assert r.json() is None
    alice.refresh_from_db()
    assert alice.default_model == SDXL
    assert _call(client, "get", "options", alice_auth).json()["sd_model_checkpoint"] == SDXL
    # Bob still gets the model the nodes have loaded.
    assert _call(client, "get", "options", bob_auth).json()["sd_model_checkpoint"] == f"{MODEL} [6ce0161689]"


def test_it_refuses_an_unknown_model_like_a1111(client, alice, alice_auth):
    registered_node()
    r = _call(client, "post", "options", alice_auth, {"sd_model_checkpoint": "nope"})
    assert r.status_code == 500
    assert r.json() == {"error": "RuntimeError", "detail": "", "body": "", "errors": "model 'nope' not found"}
    alice.refresh_from_db()
    assert alice.default_model == ""


def test_it_reads_png_info(client, alice_auth):
    text = 'a cat, "quoted"\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, Seed: 42, Size: 512x768, Model: "x, y"'
    r = _call(client, "post", "png-info", alice_auth, {"image": "data:image/png;base64," + _png(parameters=text)})
    assert r.status_code == 200
    body = r.json()
    assert body["info"] == text
    assert body["parameters"]["Prompt"] == 'a cat, "quoted"'
    assert body["parameters"]["Negative prompt"] == "blurry"
    assert (body["parameters"]["Seed"], body["parameters"]["Size-1"], body["parameters"]["Model"]) == ("42", "512", "x, y")


# Validation


@pytest.mark.parametrize(
    "body,loc,kind,fragment",
    [
        ({"steps": "many"}, ["body", "steps"], "int_parsing", "valid integer"),
        ({"steps": 20.5}, ["body", "steps"], "int_from_float", "valid integer"),
        ({"override_settings": []}, ["body", "override_settings"], "dict_type", "dictionary"),
        ({"steps": 0}, ["body", "steps"], "value_error", "greater than or equal to 1"),
        ({"width": 500}, ["body", "width"], "value_error", "multiple of 8"),
        ({"sampler_name": "k_euler"}, ["body", "sampler_name"], "value_error", "Unknown sampler k_euler"),
        ({"sampler_name": None, "sampler_index": "k_euler"}, ["body", "sampler_index"], "value_error", "Unknown sampler"),
        ({"scheduler": "sideways"}, ["body", "scheduler"], "value_error", "valid choice"),
        ({"override_settings": {"sd_model_checkpoint": "nope"}}, ["body", "override_settings", "sd_model_checkpoint"], "value_error", "Unknown model nope"),
        ({"batch_size": 4, "n_iter": 4}, ["body"], "value_error", "At most 8 images"),
        ({"enable_hr": True}, ["body", "enable_hr"], "value_error", "Hires fix"),
    ],
)
def test_it_answers_422_like_fastapi(client, alice_auth, body, loc, kind, fragment):
    registered_node()
    r = _txt2img(client, alice_auth, **body)
    assert r.status_code == 422, r.content
    [error] = r.json()["detail"]
    assert (error["loc"], error["type"]) == (loc, kind)
    assert fragment in error["msg"]
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "data,loc,kind",
    [("", ["body"], "missing"), ("{not json", ["body", 1], "json_invalid"), ("[1, 2]", ["body"], "model_type")],
)
def test_it_answers_422_for_a_body_that_is_no_object(client, alice_auth, data, loc, kind):
    r = _call(client, "post", "txt2img", alice_auth, data)
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert (error["loc"], error["type"]) == (loc, kind)


def test_it_refuses_what_a_node_would_refuse(client, alice_auth):
    registered_node()
    r = _txt2img(client, alice_auth, script_name="x/y/z plot")
    assert (r.status_code, r.json()["detail"]) == (422, "Script 'x/y/z plot' not found")
    r = _txt2img(client, alice_auth, alwayson_scripts={"ControlNet": {"args": []}})
    assert (r.status_code, r.json()["detail"]) == (422, "always on script ControlNet not found")
    r = _call(client, "post", "img2img", alice_auth, {"prompt": "x"})
    assert r.status_code == 404
    assert r.json() == {"error": "HTTPException", "detail": "Init image not found", "body": "", "errors": "404: Init image not found"}
    r = _call(client, "post", "img2img", alice_auth, {"prompt": "x", "init_images": ["bm90IGFuIGltYWdl"]})
    assert (r.status_code, r.json()["detail"]) == (500, "Invalid encoded image")
    r = _call(client, "post", "img2img", alice_auth, {"prompt": "x", "init_images": ["http://127.0.0.1/secret.png"]})
    assert (r.status_code, r.json()["detail"]) == (500, "Requests not allowed")
    assert not Job.objects.exists()


def test_it_says_so_when_no_node_is_available(client, alice_auth):
    r = _txt2img(client, alice_auth)
    assert r.status_code == 503
    assert "No SD node is available" in r.json()["detail"]


def test_it_refuses_an_upscale_larger_than_the_plan_allows(client, alice, alice_auth):
    registered_node()
    alice.plan = Plan.objects.create(name="Small", max_pixels=256 * 256)
    alice.save()
    r = _call(client, "post", "extra-single-image", alice_auth, {"image": _png(), "upscaler_1": "Lanczos", "upscaling_resize": 8})
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "upscaling_resize"]
    assert "allows at most 65536 pixels" in error["msg"]
    r = _call(client, "post", "extra-single-image", alice_auth, {"image": _png(), "upscaling_resize": 2, "resize_mode": 1})
    assert r.json()["detail"][0]["loc"] == ["body", "resize_mode"]
    assert not Job.objects.exists()


def test_it_answers_an_internal_error_in_a1111s_shape(client, alice_auth, monkeypatch):
    from generation import sdapi

    def broken():
        raise RuntimeError("secret details")

    monkeypatch.setattr(sdapi, "offered_samplers", broken)
    r = _call(client, "get", "samplers", alice_auth)
    assert r.status_code == 500
    assert r.json()["error"] == "RuntimeError"
    assert "secret" not in r.content.decode()


# Quotas


def test_it_refuses_a_job_over_the_concurrency_limit(client, alice, alice_auth):
    registered_node()
    alice.plan = Plan.objects.create(name="One at a time", max_concurrent_jobs=1)
    alice.save()
    Job.objects.create(owner=alice, model=MODEL)
    r = _txt2img(client, alice_auth)
    assert r.status_code == 429
    assert r.json()["error"] == "concurrency"
    assert "allows 1 at once" in r.json()["detail"]
    assert Job.objects.count() == 1


def test_it_says_when_the_daily_quota_frees_up(client, alice, alice_auth):
    registered_node()
    alice.plan = Plan.objects.create(name="Tiny", images_per_day=2)
    alice.save()
    Job.objects.create(owner=alice, model=MODEL, status=Job.Status.SUCCEEDED)
    r = _txt2img(client, alice_auth, batch_size=2)
    assert r.status_code == 429
    assert r.json()["error"] == "quota"
    assert 86000 < int(r["Retry-After"]) <= 86401


def test_it_limits_the_submission_rate(client, alice_auth, settings):
    registered_node()
    settings.SUBMIT_RATE_PER_USER = "0/m"
    r = _txt2img(client, alice_auth)
    assert r.status_code == 429
    assert r.json()["error"] == "rate_limited"
    assert int(r["Retry-After"]) >= 1


# Waiting for the job (no node process: dispatched jobs end at once, see jobs_end)


@pytest.mark.django_db(transaction=True)
def test_it_answers_a_failed_job_in_a1111s_error_shape(client, alice_auth, jobs_end):
    registered_node()
    jobs_end.update(status=Job.Status.FAILED, error="The node refused the request: boom")
    r = _txt2img(client, alice_auth)
    assert r.status_code == 500
    assert r.json() == {"error": "RuntimeError", "detail": "", "body": "", "errors": "The node refused the request: boom"}


@pytest.mark.django_db(transaction=True)
def test_it_answers_an_interrupted_job_with_what_it_has(client, alice_auth, jobs_end):
    registered_node()
    jobs_end.update(status=Job.Status.CANCELLED)
    r = _txt2img(client, alice_auth)
    assert r.status_code == 200
    assert r.json()["images"] == []
    assert json.loads(r.json()["info"])["all_seeds"] == []


@pytest.mark.django_db(transaction=True)
def test_it_gives_up_waiting_but_not_on_the_job(client, alice_auth, jobs_end, settings):
    registered_node()
    settings.SDAPI_WAIT_SECONDS = 0.3
    r = _txt2img(client, alice_auth)
    assert r.status_code == 504
    job = Job.objects.get()
    assert str(job.code) in r.json()["detail"]
    assert job.status == Job.Status.ASSIGNED


@pytest.mark.django_db(transaction=True)
def test_it_maps_a1111_names_onto_the_job(client, alice, alice_auth, jobs_end):
    registered_node(model_loaded=f"{MODEL} [6ce0161689]")
    alice.default_model = "sd_xl_base_1.0"
    alice.save()
    jobs_end.update(status=Job.Status.CANCELLED)
    # As webuiapi sends them: a scheduler's name, a legacy sampler name, client-side defaults.
    body = {"prompt": "a {cat}", "sampler_name": "DPM++ 2M Karras", "sampler_index": "Euler a", "scheduler": "automatic", "width": 64, "height": 64, "styles": ["noir"], "restore_faces": False, "junk": 1}
    r = _call(client, "post", "txt2img", alice_auth, body)
    assert r.status_code == 200
    job = Job.objects.get()
    assert (job.sampler_name, job.scheduler, job.model, job.steps, job.seed) == ("DPM++ 2M", "Karras", SDXL, 50, -1)
    assert job.prompt == "a (cat:1.05)"
    assert "braces" in job.notes[0] and "styles" in job.notes[1]
    parameters = r.json()["parameters"]
    assert (parameters["seed"], parameters["steps"], parameters["sampler_name"]) == (-1, 50, "DPM++ 2M Karras")
    assert "junk" not in parameters
    assert float(r["X-Process-Time"]) >= 0


@pytest.mark.django_db(transaction=True)
def test_it_keeps_an_override_that_is_not_restored_afterwards(client, alice, alice_auth, jobs_end):
    registered_node()
    jobs_end.update(status=Job.Status.CANCELLED)
    body = {"override_settings": {"sd_model_checkpoint": "sd_xl_base_1.0"}}
    assert _txt2img(client, alice_auth, **body).status_code == 200
    alice.refresh_from_db()
    assert alice.default_model == ""
    assert _txt2img(client, alice_auth, **body, override_settings_restore_afterwards=False).status_code == 200
    alice.refresh_from_db()
    assert alice.default_model == SDXL


# Progress, interrupt and skip (jobs made with the ORM or the site's own submit)


def test_it_reports_idle_when_the_caller_has_no_job(client, alice, alice_auth, bob_auth):
    Job.objects.create(owner=alice, model=MODEL, status=Job.Status.RUNNING, progress=0.5)
    r = _call(client, "get", "progress", bob_auth)
    assert r.status_code == 200
    body = r.json()
    assert (body["progress"], body["eta_relative"], body["current_image"]) == (0, 0, None)
    assert body["state"]["job_count"] == 0
    assert set(body["state"]) == {"skipped", "interrupted", "stopping_generation", "job", "job_count", "job_timestamp", "job_no", "sampling_step", "sampling_steps"}


def test_it_reports_a_queued_job_as_busy(client, alice, alice_auth):
    Job.objects.create(owner=alice, model=MODEL)
    body = _call(client, "get", "progress", alice_auth).json()
    assert body["progress"] == 0 and body["state"]["job_count"] == -1
    assert body["textinfo"] == "In queue: position 1"


def test_it_reports_the_running_job_from_its_row(client, alice, alice_auth):
    node = registered_node()
    Job.objects.create(owner=alice, model=MODEL, node=node, status=Job.Status.RUNNING, progress=0.5, step=10, steps=20, eta_seconds=3.0)
    body = _call(client, "get", "progress", alice_auth, skip_current_image="true").json()
    assert (body["progress"], body["eta_relative"]) == (0.5, 3.0)
    assert (body["state"]["sampling_step"], body["state"]["sampling_steps"], body["state"]["job"]) == (10, 20, "scripts_txt2img")
    r = _call(client, "get", "progress", alice_auth, skip_current_image="maybe")
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "skip_current_image"]


def test_it_interrupts_only_the_callers_jobs_on_nodes(client, alice, alice_auth, bob_auth):
    node = registered_node()
    running = Job.objects.create(owner=alice, model=MODEL, node=node, status=Job.Status.RUNNING)
    assigned = Job.objects.create(owner=alice, model=MODEL, node=node, status=Job.Status.ASSIGNED)
    queued = Job.objects.create(owner=alice, model=MODEL)
    for route in ("interrupt", "skip"):
        assert _call(client, "post", route, bob_auth).status_code == 200
    assert list(Job.objects.filter(cancel_requested=True)) == []
    assert Job.objects.get(pk=assigned.pk).status == Job.Status.ASSIGNED

    r = _call(client, "post", "interrupt", alice_auth)
    assert (r.status_code, r.json()) == (200, {})
    assert Job.objects.get(pk=running.pk).cancel_requested
    assert Job.objects.get(pk=assigned.pk).status == Job.Status.CANCELLED
    assert Job.objects.get(pk=queued.pk).status == Job.Status.QUEUED


# On simulated nodes, with the worker's task in threads


@pytest.mark.django_db(transaction=True)
def test_it_generates_like_a1111_and_keeps_the_images(client, alice, alice_auth, cluster, worker):
    cluster(1)
    r = _txt2img(client, alice_auth, batch_size=2, negative_prompt="fog")
    assert r.status_code == 200, r.content
    body = r.json()
    assert set(body) == {"images", "parameters", "info"}
    info = json.loads(body["info"])
    images = list(Image.objects.filter(owner=alice).order_by("index"))
    assert info["all_seeds"] == [image.seed for image in images] == [1000, 1001]
    assert info["infotexts"] == [image.infotext for image in images]
    assert (info["seed"], info["sd_model_name"], info["sampler_name"], info["index_of_first_image"]) == (1000, "v1-5-pruned-emaonly", "Euler a", 0)
    assert (info["prompt"], info["all_negative_prompts"], info["width"], info["steps"]) == ("a lighthouse", ["fog", "fog"], 64, 3)
    assert info["version"] and info["job_timestamp"] != "0"
    assert len(body["images"]) == 2
    for data, seed in zip(body["images"], [1000, 1001]):
        assert not data.startswith("data:")
        png = _decode(data)
        assert png.size == (64, 64)
        assert f"Seed: {seed}," in png.info["parameters"]
    assert (body["parameters"]["seed"], body["parameters"]["batch_size"], body["parameters"]["n_iter"]) == (1000, 2, 1)
    assert Job.objects.get().status == Job.Status.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_it_runs_img2img_from_a_data_uri(client, alice, alice_auth, cluster, worker):
    cluster(1)
    body = {"prompt": "a lighthouse", "steps": 3, "width": 64, "height": 64, "seed": 5, "denoising_strength": 0.4, "init_images": ["data:image/png;base64," + _png()]}
    r = _call(client, "post", "img2img", alice_auth, body)
    assert r.status_code == 200, r.content
    job = Job.objects.get()
    assert (job.kind, job.denoising_strength) == (Job.Kind.IMG2IMG, 0.4)
    assert job.init_image.name
    info = json.loads(r.json()["info"])
    assert info["extra_generation_params"] == {"Denoising strength": 0.4}
    assert r.json()["parameters"]["init_images"] is None  # as A1111 without include_init_images
    assert "Denoising strength: 0.4" in _decode(r.json()["images"][0]).info["parameters"]


@pytest.mark.django_db(transaction=True)
def test_it_upscales_an_image(client, alice, alice_auth, cluster, worker):
    cluster(1)
    source = _png(32, 48, parameters="a red square\nSteps: 3, Sampler: Euler a, Seed: 77, Size: 32x48")
    body = {"image": source, "upscaler_1": "R-ESRGAN 4x+", "upscaling_resize": 2}
    r = _call(client, "post", "extra-single-image", alice_auth, body)
    assert r.status_code == 200, r.content
    assert r.json()["html_info"] == ""
    assert _decode(r.json()["image"]).size == (64, 96)
    job = Job.objects.get()
    assert (job.kind, job.upscaler, job.prompt, job.seed) == (Job.Kind.UPSCALE, "R-ESRGAN 4x+", "a red square", 77)
    assert job.images.get().owner == alice
    r = _call(client, "post", "extra-single-image", alice_auth, body | {"upscaler_1": "Magic"})
    assert r.status_code == 500
    assert r.json()["errors"] == "could not find upscaler named Magic"


@pytest.mark.django_db(transaction=True)
def test_it_shows_progress_and_interrupts_only_the_callers_run(client, alice, alice_auth, bob_auth, cluster, worker):
    [(node, sim)] = cluster(1, step_seconds=0.05)
    answers: list = []

    def generate() -> None:
        from django.test import Client

        try:
            answers.append(_txt2img(Client(), alice_auth, steps=150))  # 7.5 s unless interrupted
        finally:
            connection.close()

    thread = threading.Thread(target=generate)
    started = time.monotonic()
    thread.start()
    wait_for(lambda: sim.state()["jobs_in_progress"], what="the node to generate")

    # Bob sees nothing of it and cannot stop it.
    assert _call(client, "get", "progress", bob_auth).json()["state"]["job_count"] == 0
    _call(client, "post", "interrupt", bob_auth)
    _call(client, "post", "skip", bob_auth)

    def live():
        body = _call(client, "get", "progress", alice_auth).json()
        return body if body["progress"] > 0.05 and body["current_image"] else None

    body = wait_for(live, what="a live preview")
    assert body["state"]["job_count"] == 1 and body["state"]["sampling_steps"] == 150
    assert _decode(body["current_image"]).format == "PNG"
    assert Job.objects.get().status == Job.Status.RUNNING

    assert _call(client, "post", "interrupt", alice_auth).json() == {}
    thread.join(10)
    [r] = answers
    assert r.status_code == 200, r.content
    assert time.monotonic() - started < 6.5
    assert Job.objects.get().status == Job.Status.CANCELLED
    assert sim.state()["jobs_interrupted"] == 1


@pytest.mark.django_db(transaction=True)
def test_it_skips_the_current_batch_on_the_node(client, alice, alice_auth, cluster, worker):
    cluster(1, step_seconds=0.02)
    job = submit(alice, steps=150, width=64, height=64, seed=9)
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Job.Status.RUNNING and _call(client, "get", "progress", alice_auth).json()["state"]["sampling_step"] > 0, what="sampling")
    r = _call(client, "post", "skip", alice_auth)
    assert (r.status_code, r.json()) == (200, None)
    wait_for(lambda: Job.objects.get(pk=job.pk).is_final(), what="the job to end")
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED  # a skipped batch is a result, as on a node
    stored = PILImage.open(job.images.get().file.path).convert("RGB")
    assert stored.tobytes() != render("a lighthouse at dusk", 9, 64, 64).tobytes()  # partly denoised


def test_every_route_is_named_for_its_a1111_path():
    from django.urls import reverse

    for _, route in ROUTES:
        assert reverse(f"sdapi:{route}") == f"/sdapi/v1/{route}"
    assert re.fullmatch(r"/sdapi/v1/", reverse("sdapi:not-found"))
