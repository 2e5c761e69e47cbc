"""The simulated node over real HTTP, checked against reference/a1111-api.md."""

import base64
import io
import json
import signal
import threading
import time
from typing import Any

import requests
from PIL import Image

from tests.simnodes import SimNode

SMALL = {"prompt": "a lighthouse at dusk", "steps": 5, "width": 64, "height": 64}


def _post(node: SimNode, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
    return requests.post(f"{node.url}{path}", json=body, timeout=10, **kwargs)


def _get(node: SimNode, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(f"{node.url}{path}", timeout=10, **kwargs)


def _png(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def _wait_for(node: SimNode, done: Any, timeout: float = 5) -> dict[str, Any]:
    """Poll /progress until done(progress) is true; return that progress."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = _get(node, "/sdapi/v1/progress", params={"skip_current_image": "false"}).json()
        if done(progress):
            return progress
        time.sleep(0.02)
    raise AssertionError(f"progress never got there: {progress}")


def _in_thread(target: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: out.update(r=target(), at=time.monotonic()))
    thread.start()
    return thread, out


def test_it_generates_txt2img(sdnodes):
    (node,) = sdnodes()
    r = _post(node, "/sdapi/v1/txt2img", SMALL | {"seed": 1234, "batch_size": 2, "negative_prompt": "fog", "typo": 1})
    assert r.status_code == 200
    assert "X-Process-Time" in r.headers
    body = r.json()
    assert set(body) == {"images", "parameters", "info"}
    # parameters echo the request with the server defaults; unknown keys are dropped
    assert body["parameters"]["seed"] == 1234
    assert body["parameters"]["cfg_scale"] == 7.0
    assert body["parameters"]["sampler_index"] == "Euler"
    assert "typo" not in body["parameters"]
    info = json.loads(body["info"])
    assert info["seed"] == 1234
    assert info["all_seeds"] == [1234, 1235]
    assert info["sampler_name"] == "Euler"
    assert info["sd_model_name"] == "v1-5-pruned-emaonly"
    assert info["index_of_first_image"] == 0
    assert info["version"] == "v1.10.1-sim"
    assert len(info["job_timestamp"]) == 14
    assert len(body["images"]) == 2
    for b64, infotext, seed in zip(body["images"], info["infotexts"], [1234, 1235]):
        assert not b64.startswith("data:")
        image = _png(b64)
        assert image.format == "PNG" and image.size == (64, 64)
        assert image.info["parameters"] == infotext
        assert infotext.startswith("a lighthouse at dusk\nNegative prompt: fog\nSteps: 5, Sampler: Euler, ")
        assert f"Seed: {seed}, Size: 64x64, Model hash: {info['sd_model_hash']}" in infotext


def test_it_resolves_random_seeds(sdnodes):
    (node,) = sdnodes()
    body = _post(node, "/sdapi/v1/txt2img", SMALL | {"seed": -1}).json()
    info = json.loads(body["info"])
    assert body["parameters"]["seed"] == -1
    assert 0 <= info["seed"] < 4294967294


def test_it_draws_the_same_image_for_the_same_seed(sdnodes):
    (node,) = sdnodes()
    a, b, c = (_post(node, "/sdapi/v1/txt2img", SMALL | {"seed": seed}).json()["images"][0] for seed in (7, 7, 8))
    assert a == b
    assert a != c


def test_it_answers_422_on_wrong_types(sdnodes):
    (node,) = sdnodes()
    r = _post(node, "/sdapi/v1/txt2img", {"steps": "many", "cfg_scale": 7, "width": "64", "restore_faces": []})
    assert r.status_code == 422
    assert r.json() == {
        "detail": [
            {"loc": ["body", "steps"], "msg": "value is not a valid integer", "type": "type_error.integer"},
            {"loc": ["body", "restore_faces"], "msg": "value could not be parsed to a boolean", "type": "type_error.bool"},
        ]
    }


def test_it_falls_back_silently(sdnodes):
    (node,) = sdnodes()
    body = _post(
        node,
        "/sdapi/v1/txt2img",
        SMALL | {"sampler_name": "Nope", "override_settings": {"sd_model_checkpoint": "missing.safetensors"}},
    ).json()
    info = json.loads(body["info"])
    assert info["sampler_name"] == "DPM++ 2M"
    assert info["sd_model_name"] == "v1-5-pruned-emaonly"


def test_it_runs_one_generation_at_a_time(sdnodes):
    (node,) = sdnodes()
    job = SMALL | {"steps": 10}  # 0.2 s each
    first, out1 = _in_thread(lambda: _post(node, "/sdapi/v1/txt2img", job))
    _wait_for(node, lambda p: p["state"]["job_count"] != 0)
    second, out2 = _in_thread(lambda: _post(node, "/sdapi/v1/txt2img", job))
    first.join()
    second.join()
    assert out1["r"].status_code == out2["r"].status_code == 200
    # the whole second job ran after the first one ended
    assert out2["at"] - out1["at"] > 0.18
    state = node.state()
    assert state["max_concurrent"] == 1
    assert state["max_in_flight"] == 2
    assert state["jobs_finished"] == 2


def test_it_reports_progress_during_a_job(sdnodes):
    (node,) = sdnodes()
    thread, out = _in_thread(lambda: _post(node, "/sdapi/v1/txt2img", SMALL | {"steps": 50}))
    # a live preview appears every 10 steps (show_progress_every_n_steps)
    p1 = _wait_for(node, lambda p: p["state"]["sampling_step"] >= 10)
    assert 0 < p1["progress"] < 1
    assert p1["eta_relative"] > 0
    assert p1["state"]["job"] == "scripts_txt2img"
    assert p1["state"]["job_count"] == 1
    assert p1["state"]["sampling_steps"] == 50
    assert _png(p1["current_image"]).format == "PNG"
    p2 = _wait_for(node, lambda p: p["state"]["sampling_step"] > p1["state"]["sampling_step"])
    assert p2["progress"] > p1["progress"]
    assert _get(node, "/sdapi/v1/progress", params={"skip_current_image": "true"}).json()["current_image"] is None
    thread.join()
    assert out["r"].status_code == 200

    idle = _get(node, "/sdapi/v1/progress").json()
    assert idle["progress"] == 0 and idle["current_image"] is None
    assert idle["state"]["job_count"] == 0 and idle["state"]["job"] == ""
    # stale fields of the last job, as on A1111
    assert idle["state"]["job_timestamp"] == p1["state"]["job_timestamp"]
    assert idle["state"]["sampling_steps"] == 50


def test_it_runs_hires_fix_and_returns_a_grid(sdnodes):
    (node,) = sdnodes()
    job = SMALL | {"steps": 10, "batch_size": 2, "enable_hr": True, "hr_upscaler": "Latent", "save_images": True}
    thread, out = _in_thread(lambda: _post(node, "/sdapi/v1/txt2img", job))
    assert _wait_for(node, lambda p: p["state"]["job_count"] == 2)  # each pass counts
    thread.join()
    body = out["r"].json()
    info = json.loads(body["info"])
    assert info["index_of_first_image"] == 1
    assert [_png(b).size for b in body["images"]] == [(256, 128), (128, 128), (128, 128)]
    assert (info["width"], info["height"]) == (64, 64)
    assert "Denoising strength: 0.75, Hires upscale: 2.0, Hires upscaler: Latent, Version" in info["infotexts"][1]

    r = _post(node, "/sdapi/v1/txt2img", job | {"hr_upscaler": "Magic"})
    assert r.status_code == 500
    assert r.json()["errors"] == "could not find upscaler named Magic"


def test_it_stops_a_job_on_interrupt(sdnodes):
    (node,) = sdnodes()
    started = time.monotonic()
    thread, out = _in_thread(lambda: _post(node, "/sdapi/v1/txt2img", SMALL | {"steps": 1000}))  # 20 s
    _wait_for(node, lambda p: p["state"]["sampling_step"] >= 3)
    assert _post(node, "/sdapi/v1/interrupt").json() == {}
    thread.join()
    assert time.monotonic() - started < 3
    assert out["r"].status_code == 200
    assert len(out["r"].json()["images"]) == 1  # the partly denoised image
    assert _get(node, "/sdapi/v1/progress").json()["state"]["interrupted"] is True
    assert node.state()["jobs_interrupted"] == 1


def test_it_switches_models_through_options(sdnodes):
    (node,) = sdnodes()
    models = _get(node, "/sdapi/v1/sd-models").json()
    assert [m["title"] for m in models] == [
        f"{m['model_name']}.safetensors [{m['hash']}]" for m in models
    ]
    xl = models[1]
    assert _get(node, "/sdapi/v1/options").json()["sd_model_checkpoint"] == models[0]["title"]

    r = _post(node, "/sdapi/v1/options", {"sd_model_checkpoint": xl["title"]})
    assert r.status_code == 200 and r.json() is None
    assert _get(node, "/sdapi/v1/options").json()["sd_model_checkpoint"] == xl["title"]
    info = json.loads(_post(node, "/sdapi/v1/txt2img", SMALL).json()["info"])
    assert info["sd_model_name"] == "sd_xl_base_1.0"
    assert info["sd_model_hash"] == xl["hash"]

    r = _post(node, "/sdapi/v1/options", {"sd_model_checkpoint": "x"})
    assert r.status_code == 500
    assert r.json() == {"error": "RuntimeError", "detail": "", "body": "", "errors": "model 'x' not found"}


def test_it_keeps_an_overridden_model_loaded(sdnodes):
    (node,) = sdnodes()
    override = {"override_settings": {"sd_model_checkpoint": "sd_xl_base_1.0"}}
    info = json.loads(_post(node, "/sdapi/v1/txt2img", SMALL | override).json()["info"])
    assert info["sd_model_name"] == "sd_xl_base_1.0"
    # The setting is restored but the model stays loaded (reference §10.3).
    assert _get(node, "/sdapi/v1/options").json()["sd_model_checkpoint"].startswith("v1-5-pruned-emaonly")
    assert node.state()["loaded_model"].startswith("sd_xl_base_1.0")
    info = json.loads(_post(node, "/sdapi/v1/txt2img", SMALL).json()["info"])
    assert info["sd_model_name"] == "v1-5-pruned-emaonly"


def test_it_requires_basic_auth(sdnodes):
    (node,) = sdnodes(auth="alice:s3cret")
    r = _get(node, "/sdapi/v1/sd-models")
    assert r.status_code == 401
    assert r.json()["detail"] == "Not authenticated"
    r = _get(node, "/sdapi/v1/sd-models", auth=("alice", "wrong"))
    assert r.status_code == 401
    assert r.json()["detail"] == "Incorrect username or password"
    assert _get(node, "/sdapi/v1/sd-models", auth=("alice", "s3cret")).status_code == 200
    assert _get(node, "/internal/ping").status_code == 200


def test_it_fails_as_told(sdnodes):
    (node,) = sdnodes(fail_rate=1)
    r = _post(node, "/sdapi/v1/txt2img", SMALL)
    assert r.status_code == 500
    assert r.json()["error"] == "OutOfMemoryError"
    assert r.json()["errors"].startswith("CUDA out of memory")
    assert _get(node, "/sdapi/v1/memory").json()["cuda"]["events"]["oom"] == 1
    node.control(fail_rate=0)
    assert _post(node, "/sdapi/v1/txt2img", SMALL).status_code == 200
    assert node.state()["jobs_failed"] == 1


def test_it_runs_img2img(sdnodes):
    (node,) = sdnodes()
    init = _post(node, "/sdapi/v1/txt2img", SMALL).json()["images"][0]
    job = SMALL | {"init_images": [f"data:image/png;base64,{init}"], "width": 32, "height": 48}
    r = _post(node, "/sdapi/v1/img2img", job)
    assert r.status_code == 200
    assert _png(r.json()["images"][0]).size == (32, 48)
    assert r.json()["parameters"]["init_images"] is None  # include_init_images is false
    assert "Denoising strength: 0.75" in json.loads(r.json()["info"])["infotexts"][0]

    r = _post(node, "/sdapi/v1/img2img", SMALL)
    assert r.status_code == 404 and r.json()["detail"] == "Init image not found"
    r = _post(node, "/sdapi/v1/img2img", SMALL | {"init_images": ["bm90IGFuIGltYWdl"]})
    assert r.status_code == 500 and r.json()["detail"] == "Invalid encoded image"


def test_it_upscales_with_extras(sdnodes):
    (node,) = sdnodes()
    image = _post(node, "/sdapi/v1/txt2img", SMALL).json()["images"][0]
    extras = {"image": image, "upscaler_1": "R-ESRGAN 4x+", "upscaling_resize": 2}
    r = _post(node, "/sdapi/v1/extra-single-image", extras)
    assert r.status_code == 200
    assert set(r.json()) == {"image", "html_info"}
    upscaled = _png(r.json()["image"])
    assert upscaled.size == (128, 128)
    assert upscaled.info["parameters"].startswith("a lighthouse at dusk")

    r = _post(node, "/sdapi/v1/extra-single-image", {"image": image, "upscaler_1": "Magic"})
    assert r.status_code == 500
    assert r.json()["error"] == "AssertionError"
    assert r.json()["errors"] == "could not find upscaler named Magic"


def test_it_answers_unknown_routes_like_fastapi(sdnodes):
    (node,) = sdnodes()
    r = _get(node, "/sdapi/v1/nothing")
    assert (r.status_code, r.json()) == (404, {"detail": "Not Found"})
    r = _get(node, "/sdapi/v1/txt2img")
    assert (r.status_code, r.json()) == (405, {"detail": "Method Not Allowed"})


def test_it_lists_what_a_node_has(sdnodes):
    (node,) = sdnodes(vram_gb=12)
    samplers = _get(node, "/sdapi/v1/samplers").json()
    assert {"Euler a", "Euler", "DPM++ 2M", "DPM++ SDE", "DDIM"} <= {s["name"] for s in samplers}
    assert all(set(s) == {"name", "aliases", "options"} for s in samplers)
    schedulers = _get(node, "/sdapi/v1/schedulers").json()
    karras = {"name": "karras", "label": "Karras", "aliases": None, "default_rho": 7.0, "need_inner_model": False}
    assert karras in schedulers
    upscalers = _get(node, "/sdapi/v1/upscalers").json()
    assert {"None", "Lanczos", "R-ESRGAN 4x+"} <= {u["name"] for u in upscalers}
    assert {"name": "Latent"} in _get(node, "/sdapi/v1/latent-upscale-modes").json()
    memory = _get(node, "/sdapi/v1/memory").json()
    assert set(memory["ram"]) == {"free", "used", "total"}
    assert memory["cuda"]["system"]["total"] == 12 * 1024**3
    assert set(memory["cuda"]) == {"system", "active", "allocated", "reserved", "inactive", "events"}
    assert _get(node, "/sdapi/v1/cmd-flags").json()["api"] is True
    assert _get(node, "/internal/ping").json() == {}
    assert node.state()["requests"]["/sdapi/v1/samplers"] == 1


def test_it_stops_on_sigterm_and_comes_back_on_the_same_port(sdnodes):
    (node,) = sdnodes()
    url = node.url
    node.proc.send_signal(signal.SIGTERM)
    assert node.proc.wait(5) == 0
    assert "sdnode stopped" in node.output()
    node.restart()
    assert node.url == url
    assert _get(node, "/internal/ping").status_code == 200
