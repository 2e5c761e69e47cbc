import pytest
from django.urls import reverse

from generation.models import Job
from tests.generation.helpers import params, registered_node

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def node():
    return registered_node()


def _create(client, **overrides):
    return client.post(reverse("generation:create-job"), params(**overrides))


def test_it_creates_a_queued_job(client, alice):
    client.force_login(alice)
    r = _create(client)
    assert r.status_code == 201
    body = r.json()
    job = Job.objects.get(code=body["job"])
    assert job.owner == alice
    assert body["status"] == "queued"
    assert body["queue_position"] == 1
    assert body["eta_seconds"] > 0
    assert (job.prompt, job.steps, job.seed, job.model) == (
        "a lighthouse at dusk",
        10,
        1234,
        "v1-5-pruned-emaonly.safetensors [6ce0161689]",
    )


@pytest.mark.parametrize(
    "overrides,field,fragment",
    [
        ({"steps": 0}, "steps", "greater than or equal to 1"),
        ({"steps": "many"}, "steps", "whole number"),
        ({"width": 500}, "width", "multiple of 8"),
        ({"height": 4096}, "height", "less than or equal to"),
        ({"cfg_scale": 99}, "cfg_scale", "less than or equal to"),
        ({"seed": -2}, "seed", "greater than or equal to -1"),
        ({"seed": 2**32}, "seed", "less than or equal to"),
        ({"model": "no-such-model"}, "model", "Unknown model no-such-model"),
        ({"sampler_name": "k_euler"}, "sampler_name", "Unknown sampler k_euler"),
        ({"prompt": ""}, "prompt", "required"),
        ({"prompt": "x" * 2001}, "prompt", "at most 2000"),
        ({"kind": "img2img"}, "init_image", "needs an initial image"),
    ],
)
def test_it_names_the_invalid_field(client, alice, overrides, field, fragment):
    client.force_login(alice)
    r = _create(client, **overrides)
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "invalid"
    assert body["field"] == field
    assert fragment in body["fields"][field][0]
    assert not Job.objects.exists()


def test_it_refuses_too_many_images_per_job(client, alice):
    client.force_login(alice)
    r = _create(client, batch_size=4, n_iter=4)
    assert r.status_code == 400
    assert "At most 8 images per job" in r.json()["message"]


def test_it_refuses_a_size_no_node_can_generate(client, alice, node):
    node.max_pixels = 512 * 512
    node.save()
    client.force_login(alice)
    r = _create(client, width=1024, height=1024)
    assert r.status_code == 400
    assert "larger than any node can generate" in r.json()["message"]


def test_it_says_so_when_no_node_is_available(client, alice, node):
    node.state = node.State.UNHEALTHY
    node.save()
    client.force_login(alice)
    r = _create(client)
    assert r.status_code == 400
    assert "No SD node is available" in r.json()["message"]


def test_it_converts_novelai_braces_and_says_so(client, alice):
    client.force_login(alice)
    r = _create(client, prompt="a {{cat}} on a {mat}")
    assert r.status_code == 201
    job = Job.objects.get(code=r.json()["job"])
    assert job.prompt == "a (cat:1.1025) on a (mat:1.05)"
    assert "braces" in r.json()["notes"][0]


def test_it_accepts_a_model_alias(client, alice):
    client.force_login(alice)
    r = _create(client, model="sd_xl_base_1.0")
    assert r.status_code == 201
    assert Job.objects.get().model == "sd_xl_base_1.0.safetensors [31e35c80fc]"


def test_it_requires_login(client):
    r = _create(client)
    assert r.status_code == 302
    assert not Job.objects.exists()


def test_it_shows_a_job_only_to_its_owner(client, alice, charlie):
    client.force_login(alice)
    code = _create(client).json()["job"]
    assert client.get(reverse("generation:job", args=[code])).json()["job"] == code
    client.force_login(charlie)
    assert client.get(reverse("generation:job", args=[code])).status_code == 404
    assert client.post(reverse("generation:cancel-job", args=[code])).status_code == 404
    assert Job.objects.get(code=code).status == Job.Status.QUEUED


def test_it_cancels_a_queued_job_and_then_answers_409(client, alice):
    client.force_login(alice)
    code = _create(client).json()["job"]
    r = client.post(reverse("generation:cancel-job", args=[code]))
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    r = client.post(reverse("generation:cancel-job", args=[code]))
    assert r.status_code == 409
    assert "already ended" in r.json()["message"]


def test_the_generate_page_renders_the_form_and_recent_jobs(client, alice, bob):
    client.force_login(bob)
    _create(client, prompt="bobs secret prompt")
    client.force_login(alice)
    _create(client, prompt="alices prompt")
    r = client.get(reverse("generation:generate") + "?prompt=reused+prompt&steps=33")
    assert r.status_code == 200
    html = r.content.decode()
    assert "reused prompt" in html
    assert 'value="33"' in html
    assert "alices prompt" in html
    assert "bobs secret prompt" not in html


def test_the_generate_page_requires_login(client):
    r = client.get(reverse("generation:generate"))
    assert r.status_code == 302
