"""HTTP client for one A1111 node (reference/a1111-api.md). No Django: tasks and health checks
pass everything in.

Every failure is a NodeError, split by whose fault it is:
- NodeFailed: the node could not be reached, timed out, answered 5xx or something that is not
  the expected JSON. Counts against the node; the job can be retried elsewhere.
- NodeRejected: the node answered 4xx (401, 404, 405, 422, ...). The request was refused, so
  retrying it elsewhere would most likely fail the same way; the job fails with .message.
"""

from __future__ import annotations

import json
import time
from types import TracebackType
from typing import Any

import requests
from requests.adapters import HTTPAdapter


class NodeError(Exception):
    def __init__(self, message: str, status: int | None = None, detail: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status  # HTTP status, None when there was no answer
        self.detail = detail  # FastAPI's validation errors of a 422, as the node sent them


class NodeFailed(NodeError):
    """The node failed: unreachable, timed out, 5xx or an unparseable answer."""


class NodeRejected(NodeError):
    """The node refused the request with a 4xx."""


class NodeClient:
    """Calls to one node over one pooled session. HTTP Basic credentials go with every request:
    A1111 never challenges (its 401 carries no WWW-Authenticate).

    Timeouts are (connect, read) pairs: generation calls take the read timeout per call, status
    calls use status_timeout. A read timeout is the longest silence allowed, and A1111 sends
    nothing until a generation is done, so it has to cover queue wait + model load + sampling.

    The session may be shared by two threads, one waiting on a generation while the other
    polls progress(); the pool keeps up to 4 connections.
    """

    def __init__(
        self,
        base_url: str,
        auth: tuple[str, str] | None = None,
        *,
        connect_timeout: float = 5,
        status_timeout: float = 10,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.status_timeout = status_timeout
        self.session = requests.Session()
        self.session.auth = auth
        # No retries (the default): a POST to txt2img must never be sent twice.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=4)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    # Generation

    def txt2img(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        """POST /sdapi/v1/txt2img. Returns {images, parameters, info, info_text}: `info` is the
        node's info JSON string parsed into a dict (real seeds, model, infotexts), `info_text`
        the string itself, as the node sent it, for storing verbatim."""
        return self._generation("/sdapi/v1/txt2img", payload, timeout)

    def img2img(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        """POST /sdapi/v1/img2img; the same result as txt2img()."""
        return self._generation("/sdapi/v1/img2img", payload, timeout)

    def extra_single_image(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        """POST /sdapi/v1/extra-single-image → {image, html_info}."""
        result = self._call("POST", "/sdapi/v1/extra-single-image", timeout, json=payload)
        if not isinstance(result, dict) or not isinstance(result.get("image"), str):
            raise NodeFailed("extra-single-image: the answer has no image", 200)
        return result

    def _generation(self, path: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        result = self._call("POST", path, timeout, json=payload)
        if not isinstance(result, dict) or not isinstance(result.get("images"), list):
            raise NodeFailed(f"{path}: the answer has no images list", 200)
        info_text = result.get("info")
        try:
            info = json.loads(info_text) if isinstance(info_text, str) else None
        except ValueError:
            info = None
        if not isinstance(info, dict):
            raise NodeFailed(f"{path}: the answer's info is not a JSON object", 200)
        return result | {"info": info, "info_text": info_text}

    # Status and control

    def progress(self, skip_current_image: bool = True) -> dict[str, Any]:
        """GET /sdapi/v1/progress: node-global, it shows whatever job holds the node's lock."""
        params = {"skip_current_image": "true" if skip_current_image else "false"}
        return self._status("GET", "/sdapi/v1/progress", params=params)

    def ping(self) -> float:
        """Seconds a cheap status call takes. /progress, not /internal/ping, which API-only
        nodes (--nowebui) lack."""
        started = time.monotonic()
        self.progress(skip_current_image=True)
        return time.monotonic() - started

    def interrupt(self) -> None:
        """Stop whatever job runs on the node, which may not be ours (reference §10.4)."""
        self._status("POST", "/sdapi/v1/interrupt")

    def skip(self) -> None:
        self._status("POST", "/sdapi/v1/skip")

    def get_options(self) -> dict[str, Any]:
        return self._status("GET", "/sdapi/v1/options")

    def set_options(self, options: dict[str, Any], timeout: float = 120) -> None:
        """POST /sdapi/v1/options. A checkpoint change loads the model under the node's lock,
        after any running job, hence the long timeout. A1111 may answer 200 and still revert a
        setting whose change failed: read get_options() to be sure."""
        self._call("POST", "/sdapi/v1/options", timeout, json=options)

    def sd_models(self) -> list[dict[str, Any]]:
        return self._status("GET", "/sdapi/v1/sd-models")

    def samplers(self) -> list[dict[str, Any]]:
        return self._status("GET", "/sdapi/v1/samplers")

    def schedulers(self) -> list[dict[str, Any]]:
        return self._status("GET", "/sdapi/v1/schedulers")

    def upscalers(self) -> list[dict[str, Any]]:
        return self._status("GET", "/sdapi/v1/upscalers")

    def memory(self) -> dict[str, Any]:
        return self._status("GET", "/sdapi/v1/memory")

    # Transport

    def _status(self, method: str, path: str, params: dict[str, str] | None = None) -> Any:
        return self._call(method, path, self.status_timeout, params=params)

    def _call(self, method: str, path: str, timeout: float, **kwargs: Any) -> Any:
        url = self.base_url + path
        try:
            r = self.session.request(method, url, timeout=(self.connect_timeout, timeout), **kwargs)
        except requests.ConnectTimeout as e:
            raise NodeFailed(f"{method} {path}: could not connect within {self.connect_timeout:g} s") from e
        except requests.ReadTimeout as e:
            raise NodeFailed(f"{method} {path}: no answer within {timeout:g} s") from e
        except requests.RequestException as e:
            raise NodeFailed(f"{method} {path}: {_reason(e)}") from e
        if r.status_code >= 400:
            raise _http_error(method, path, r)
        try:
            return r.json()
        except ValueError as e:
            raise NodeFailed(f"{method} {path}: the answer is not JSON: {r.text[:200]!r}", r.status_code) from e


def _http_error(method: str, path: str, r: requests.Response) -> NodeError:
    cls = NodeRejected if r.status_code < 500 else NodeFailed
    try:
        body = r.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        # Not the node's own error (a proxy's HTML page, say): keep a little of it.
        text = " ".join(r.text.split())[:200] or r.reason
        return cls(f"{method} {path}: HTTP {r.status_code}: {text}", r.status_code)
    detail = body.get("detail")
    if isinstance(detail, list):
        return cls(_validation_message(detail), r.status_code, detail)
    return cls(_error_message(body) or f"{method} {path}: HTTP {r.status_code}", r.status_code)


def _validation_message(detail: list[Any]) -> str:
    """FastAPI's 422 list as one line, e.g. "steps: value is not a valid integer"."""
    parts = []
    for error in detail:
        if not isinstance(error, dict):
            parts.append(str(error))
            continue
        loc = [str(x) for x in error.get("loc", [])]
        if loc[:1] in (["body"], ["query"]):
            loc = loc[1:]
        where = ".".join(loc) or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _error_message(body: dict[str, Any]) -> str:
    """Text of an A1111 error body {error, detail, body, errors}, or Forge's {error, message},
    or FastAPI's {detail}. An HTTPException's detail is the cleanest text; for any other
    exception, "errors" is str(exception) and "error" its class."""
    detail, error = body.get("detail"), body.get("error")
    if isinstance(detail, str) and detail:
        return detail
    for key in ("errors", "message"):
        text = body.get(key)
        if isinstance(text, str) and text:
            return f"{error}: {text}" if isinstance(error, str) and error and error != "HTTPException" else text
    return error if isinstance(error, str) else ""


def _reason(e: BaseException) -> str:
    """The innermost cause ("[Errno 111] Connection refused", "Remote end closed connection
    without response") instead of urllib3's nested reprs."""
    seen = {id(e)}
    while True:
        reason = getattr(e, "reason", None)
        inner = reason if isinstance(reason, BaseException) else (
            e.__cause__ or e.__context__ or next((a for a in reversed(e.args) if isinstance(a, BaseException)), None)
        )
        if inner is None or id(inner) in seen:
            return str(e) or type(e).__name__
        seen.add(id(inner))
        e = inner
