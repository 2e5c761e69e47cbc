"""The PyPI `webuiapi` client, written for one A1111 node, against the whole platform:
`manage.py runlocal` (daphne, the django-q2 worker and two simulated nodes) on the embedded default."""

import re
import threading
import time

import pytest
import requests
import webuiapi

from cluster.simulator import DEFAULT_MODELS, Model
from tests.e2e.live import LivePlatform
from tests.workers import wait_for

@pytest.fixture
def platform(tmp_path):
    with LivePlatform(tmp_path) as site:
        site.create_user("dora", "e2e-password-1")
        yield site


def _seed(image) -> int:
    return int(re.search(r"\bSeed: (\d+)", image.info["parameters"]).group(1))


def test_the_webuiapi_client_works_against_the_cluster(platform):
    port, node_port = platform.port, platform.node_port
    token = platform.manage("createtoken", "dora").strip()
    api = webuiapi.WebUIApi(host="127.0.0.1", port=port, username="dora", password=token)

    assert [m["title"] for m in api.get_sd_models()] == sorted(Model(name).title for name in DEFAULT_MODELS)

    result = api.txt2img(prompt="a red fox", steps=5, width=64, height=64, batch_size=2)
    assert len(result.images) == 2
    assert all(image.size == (64, 64) for image in result.images)
    assert result.info["all_seeds"] == [_seed(image) for image in result.images]

    result = api.img2img(images=[result.image], prompt="a blue fox", steps=5, width=64, height=64, denoising_strength=0.5)
    assert len(result.images) == 1
    assert result.info["extra_generation_params"] == {"Denoising strength": 0.5}

    # A long run in another thread (own session): its progress shows, and interrupt ends it early with 200.
    answer: dict = {}

    def long_run() -> None:
        other = webuiapi.WebUIApi(host="127.0.0.1", port=port, username="dora", password=token)
        try:
            answer["result"] = other.txt2img(prompt="a slow fox", steps=50, width=64, height=64)  # 5 s on runlocal's nodes
        except RuntimeError as e:  # webuiapi's way of saying "not 200"
            answer["error"] = e

    thread = threading.Thread(target=long_run)
    started = time.monotonic()
    thread.start()
    progress = wait_for(lambda: (p := api.get_progress())["state"]["sampling_step"] > 0 and p, 30, "the node to sample")
    assert progress["progress"] > 0 and progress["state"]["job_count"] == 1
    assert api.interrupt() == {}
    thread.join(30)
    assert "result" in answer, answer
    assert time.monotonic() - started < 5
    interrupted = [requests.get(f"http://127.0.0.1:{p}/_sim/state", timeout=5).json()["jobs_interrupted"] for p in (node_port, node_port + 1)]
    assert sum(interrupted) == 1  # the run was stopped on its node, not just taken off the queue
    assert api.get_progress()["state"]["job_count"] == 0
