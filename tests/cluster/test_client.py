"""NodeClient against simulated nodes: results, and which errors count against the node."""

import base64
import io
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from cluster.client import NodeClient, NodeFailed, NodeRejected
from tests.simnodes import SimNode

SMALL = {"prompt": "a red fox in snow", "steps": 5, "width": 64, "height": 64}


def _client(node: SimNode, **kwargs: Any) -> NodeClient:
    return NodeClient(node.url, connect_timeout=1, status_timeout=2, **kwargs)


def _wait_for_step(client: NodeClient, step: int) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        progress = client.progress()
        if progress["state"]["sampling_step"] >= step:
            return progress
        time.sleep(0.02)
    raise AssertionError(f"the job never reached step {step}")


def _in_thread(target: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["r"] = target()
        except Exception as e:
            out["e"] = e

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


@pytest.fixture
def stub() -> Iterator[ThreadingHTTPServer]:
    """A server that answers whatever the test puts in server.reply: (status, content type, body)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            status, content_type, body = self.server.reply  # type: ignore[attr-defined]
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_it_generates(sdnodes):
    (node,) = sdnodes()
    with _client(node) as client:
        result = client.txt2img(SMALL | {"seed": 1234, "batch_size": 2}, timeout=10)
    assert result["info"]["all_seeds"] == [1234, 1235]
    assert isinstance(result["info_text"], str) and '"seed": 1234' in result["info_text"]
    assert result["parameters"]["seed"] == 1234
    image = Image.open(io.BytesIO(base64.b64decode(result["images"][1])))
    assert image.info["parameters"] == result["info"]["infotexts"][1]


def test_it_reads_what_a_node_offers(sdnodes):
    (node,) = sdnodes()
    with _client(node) as client:
        assert client.ping() > 0
        models = client.sd_models()
        assert "DPM++ 2M" in [s["name"] for s in client.samplers()]
        assert "karras" in [s["name"] for s in client.schedulers()]
        assert "R-ESRGAN 4x+" in [u["name"] for u in client.upscalers()]
        assert client.memory()["cuda"]["system"]["total"] == 8 * 1024**3
        assert client.get_options()["sd_model_checkpoint"] == models[0]["title"]
        client.set_options({"sd_model_checkpoint": models[1]["title"]})
        assert client.get_options()["sd_model_checkpoint"] == models[1]["title"]


def test_it_upscales(sdnodes):
    (node,) = sdnodes()
    with _client(node) as client:
        image = client.txt2img(SMALL, timeout=10)["images"][0]
        result = client.img2img(SMALL | {"init_images": [image]}, timeout=10)
        assert result["info"]["sd_model_name"] == "v1-5-pruned-emaonly"
        extras = {"image": image, "upscaler_1": "Lanczos", "upscaling_resize": 1.5}
        upscaled = client.extra_single_image(extras, timeout=10)
    assert Image.open(io.BytesIO(base64.b64decode(upscaled["image"]))).size == (96, 96)


def test_it_rejects_a_422_with_the_field_name(sdnodes):
    (node,) = sdnodes()
    with _client(node) as client, pytest.raises(NodeRejected) as e:
        client.txt2img(SMALL | {"steps": "twenty"}, timeout=10)
    assert e.value.status == 422
    assert e.value.message == "steps: value is not a valid integer"
    assert e.value.detail == [
        {"loc": ["body", "steps"], "msg": "value is not a valid integer", "type": "type_error.integer"}
    ]


def test_it_rejects_a_404_with_the_nodes_message(sdnodes):
    (node,) = sdnodes()
    with _client(node) as client, pytest.raises(NodeRejected) as e:
        client.img2img(SMALL, timeout=10)
    assert (e.value.status, e.value.message) == (404, "Init image not found")


def test_it_rejects_missing_credentials(sdnodes):
    (node,) = sdnodes(auth="worker:pw")
    with _client(node) as client, pytest.raises(NodeRejected) as e:
        client.sd_models()
    assert (e.value.status, e.value.message) == (401, "Not authenticated")
    with _client(node, auth=("worker", "pw")) as client:
        assert client.sd_models()


def test_it_fails_on_a_500(sdnodes):
    (node,) = sdnodes(fail_rate=1)
    with _client(node) as client, pytest.raises(NodeFailed) as e:
        client.txt2img(SMALL, timeout=10)
    assert e.value.status == 500
    assert e.value.message.startswith("OutOfMemoryError: CUDA out of memory")


def test_it_fails_when_nothing_listens():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with NodeClient(f"http://127.0.0.1:{port}") as client, pytest.raises(NodeFailed) as e:
        client.ping()
    assert e.value.status is None
    assert "Connection refused" in e.value.message


def test_it_fails_when_a_generation_hangs(sdnodes):
    (node,) = sdnodes(hang_rate=1)
    started = time.monotonic()
    with _client(node) as client, pytest.raises(NodeFailed) as e:
        client.txt2img(SMALL, timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert e.value.message == "POST /sdapi/v1/txt2img: no answer within 0.5 s"
    assert node.state()["jobs_hung"] == 1


def test_it_fails_when_the_node_dies_mid_job(sdnodes):
    (node,) = sdnodes()
    node.control(die_at_step=3)
    with _client(node) as client, pytest.raises(NodeFailed) as e:
        client.txt2img(SMALL, timeout=10)
    assert e.value.status is None
    assert node.proc.wait(5) == 1


def test_it_recovers_a_stalled_job_with_interrupt(sdnodes):
    (node,) = sdnodes()
    node.control(stall_at_step=2)
    with _client(node) as client:
        thread, out = _in_thread(lambda: client.txt2img(SMALL | {"steps": 20}, timeout=10))
        _wait_for_step(client, 2)
        time.sleep(0.2)  # 10 steps' time: a healthy job would have moved on
        assert client.progress()["state"]["sampling_step"] == 2
        client.interrupt()
        thread.join(5)
    assert len(out["r"]["images"]) == 1
    assert node.state()["jobs_interrupted"] == 1


def test_it_skips_to_the_next_batch(sdnodes):
    (node,) = sdnodes()
    node.control(stall_at_step=2)
    with _client(node) as client:
        thread, out = _in_thread(lambda: client.txt2img(SMALL | {"n_iter": 2, "seed": 5}, timeout=10))
        progress = _wait_for_step(client, 2)
        assert progress["state"]["job"] == "Batch 1 out of 2"
        client.skip()
        thread.join(5)
    assert out["r"]["info"]["all_seeds"] == [5, 6]
    assert len(out["r"]["images"]) == 2
    assert node.state()["jobs_finished"] == 1


def test_it_fails_on_an_answer_that_is_not_json(stub):
    stub.reply = (200, "text/plain", b"hello")  # type: ignore[attr-defined]
    with NodeClient(f"http://127.0.0.1:{stub.server_port}") as client, pytest.raises(NodeFailed) as e:
        client.txt2img(SMALL, timeout=2)
    assert e.value.status == 200
    assert "not JSON" in e.value.message


def test_it_fails_on_a_proxy_error_page(stub):
    stub.reply = (502, "text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>")  # type: ignore[attr-defined]
    with NodeClient(f"http://127.0.0.1:{stub.server_port}") as client, pytest.raises(NodeFailed) as e:
        client.txt2img(SMALL, timeout=2)
    assert e.value.status == 502
    assert "502 Bad Gateway" in e.value.message
