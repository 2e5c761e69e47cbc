"""A fake AUTOMATIC1111 node: the webui HTTP API on a real socket, without a GPU.

It follows reference/a1111-api.md field for field, so the platform's client, dispatcher and
health checks meet what a real node does: the server defaults, silent fallbacks (unknown
sampler, unknown checkpoint override), one FIFO queue lock, node-global progress with stale
idle fields, and the same error bodies. Images are cheap deterministic PNGs: the same prompt,
seed and size give the same bytes. Faults come from the constructor (fail_rate, hang_rate) or
at runtime from POST /_sim/control; GET /_sim/state has counters for tests.

No Django here: `manage.py sdnode` runs it, and it also runs in-process in a thread.
"""

from __future__ import annotations

import base64
import binascii
import colorsys
import copy
import hashlib
import html
import io
import json
import logging
import math
import os
import random
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from secrets import compare_digest
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageDraw, PngImagePlugin

log = logging.getLogger(__name__)

VERSION = "v1.10.1-sim"
DEFAULT_MODELS = ("v1-5-pruned-emaonly.safetensors", "sd_xl_base_1.0.safetensors")
GIB = 1024**3

# A1111 1.10's samplers in its order: the first is the fallback for unknown names.
SAMPLERS: list[dict[str, Any]] = [
    {"name": "DPM++ 2M", "aliases": ["k_dpmpp_2m"], "options": {"scheduler": "karras"}},
    {
        "name": "DPM++ SDE",
        "aliases": ["k_dpmpp_sde"],
        "options": {"scheduler": "karras", "second_order": True, "brownian_noise": True},
    },
    {"name": "DPM++ 2M SDE", "aliases": ["k_dpmpp_2m_sde"], "options": {"scheduler": "exponential", "brownian_noise": True}},
    {
        "name": "DPM++ 2S a",
        "aliases": ["k_dpmpp_2s_a"],
        "options": {"scheduler": "karras", "uses_ensd": True, "second_order": True},
    },
    {"name": "Euler a", "aliases": ["k_euler_a", "k_euler_ancestral"], "options": {"uses_ensd": True}},
    {"name": "Euler", "aliases": ["k_euler"], "options": {}},
    {"name": "LMS", "aliases": ["k_lms"], "options": {}},
    {"name": "Heun", "aliases": ["k_heun"], "options": {"second_order": True}},
    {
        "name": "DPM2",
        "aliases": ["k_dpm_2"],
        "options": {"scheduler": "karras", "discard_next_to_last_sigma": True, "second_order": True},
    },
    {"name": "Restart", "aliases": ["restart"], "options": {"scheduler": "karras", "second_order": True}},
    {"name": "DDIM", "aliases": ["ddim"], "options": {}},
    {"name": "PLMS", "aliases": ["plms"], "options": {}},
    {"name": "UniPC", "aliases": ["unipc"], "options": {}},
    {"name": "LCM", "aliases": ["k_lcm"], "options": {}},
]

SCHEDULERS: list[dict[str, Any]] = [
    {"name": name, "label": label, "aliases": aliases, "default_rho": rho, "need_inner_model": inner}
    for name, label, aliases, rho, inner in [
        ("automatic", "Automatic", None, -1, False),
        ("uniform", "Uniform", None, -1, True),
        ("karras", "Karras", None, 7.0, False),
        ("exponential", "Exponential", None, -1, False),
        ("polyexponential", "Polyexponential", None, 1.0, False),
        ("sgm_uniform", "SGM Uniform", ["SGMUniform"], -1, True),
        ("kl_optimal", "KL Optimal", None, -1, False),
        ("align_your_steps", "Align Your Steps", None, -1, False),
        ("simple", "Simple", None, -1, True),
        ("normal", "Normal", None, -1, True),
        ("ddim", "DDIM", None, -1, True),
        ("beta", "Beta", None, -1, True),
    ]
]

UPSCALERS: list[dict[str, Any]] = [
    {"name": name, "model_name": model, "model_path": path, "model_url": None, "scale": 4}
    for name, model, path in [
        ("None", None, None),
        ("Lanczos", None, None),
        ("Nearest", None, None),
        ("ESRGAN_4x", "ESRGAN_4x", "/sim/models/ESRGAN/ESRGAN_4x.pth"),
        ("R-ESRGAN 4x+", None, "/sim/models/RealESRGAN/RealESRGAN_x4plus.pth"),
        ("R-ESRGAN 4x+ Anime6B", None, "/sim/models/RealESRGAN/RealESRGAN_x4plus_anime_6B.pth"),
        ("SwinIR 4x", "SwinIR 4x", "/sim/models/SwinIR/SwinIR_4x.pth"),
    ]
]

LATENT_UPSCALE_MODES = [
    {"name": name}
    for name in [
        "Latent",
        "Latent (antialiased)",
        "Latent (bicubic)",
        "Latent (bicubic antialiased)",
        "Latent (nearest)",
        "Latent (nearest-exact)",
    ]
]

# Always-on scripts of a bare A1111; any other alwayson_scripts key is a 422.
ALWAYSON_SCRIPTS = {"extra options", "hypertile", "refiner", "seed", "sampler"}

# A representative slice of the hundreds of settings; POST /options refuses other keys like A1111.
OPTION_DEFAULTS: dict[str, Any] = {
    "samples_save": True,
    "samples_format": "png",
    "grid_save": True,
    "return_grid": True,
    "enable_pnginfo": True,
    "sd_vae": "Automatic",
    "sd_unet": "Automatic",
    "sd_checkpoints_limit": 1,
    "CLIP_stop_at_last_layers": 1,
    "face_restoration": False,
    "face_restoration_model": "CodeFormer",
    "tiling": False,
    "eta_noise_seed_delta": 0,
    "randn_source": "GPU",
    "emphasis": "Original",
    "live_previews_enable": True,
    "show_progress_every_n_steps": 10,
    "show_progress_type": "Approx NN",
    "live_preview_content": "Prompt",
    "add_model_hash_to_info": True,
    "add_model_name_to_info": True,
    "add_version_to_infotext": True,
    "api_enable_requests": False,
}

# Request models, as pydantic 1 builds them from A1111's processing dataclasses: name → (type, default).
# Every field is Optional, so an explicit null is accepted and means "the default".
_COMMON_FIELDS: dict[str, tuple[str, Any]] = {
    "prompt": ("str", ""),
    "negative_prompt": ("str", ""),
    "styles": ("list[str]", None),
    "seed": ("int", -1),
    "subseed": ("int", -1),
    "subseed_strength": ("float", 0),
    "seed_resize_from_h": ("int", -1),
    "seed_resize_from_w": ("int", -1),
    "sampler_name": ("str", None),
    "scheduler": ("str", None),
    "batch_size": ("int", 1),
    "n_iter": ("int", 1),
    "steps": ("int", 50),
    "cfg_scale": ("float", 7.0),
    "width": ("int", 512),
    "height": ("int", 512),
    "restore_faces": ("bool", None),
    "tiling": ("bool", None),
    "do_not_save_samples": ("bool", False),
    "do_not_save_grid": ("bool", False),
    "eta": ("float", None),
    "denoising_strength": ("float", 0.75),
    "s_min_uncond": ("float", None),
    "s_churn": ("float", None),
    "s_tmax": ("float", None),
    "s_tmin": ("float", None),
    "s_noise": ("float", None),
    "override_settings": ("dict", None),
    "override_settings_restore_afterwards": ("bool", True),
    "refiner_checkpoint": ("str", None),
    "refiner_switch_at": ("float", None),
    "disable_extra_networks": ("bool", False),
    "firstpass_image": ("str", None),
    "comments": ("dict", None),
    "sampler_index": ("str", "Euler"),
    "script_name": ("str", None),
    "script_args": ("list", []),
    "send_images": ("bool", True),
    "save_images": ("bool", False),
    "alwayson_scripts": ("dict", {}),
    "force_task_id": ("str", None),
    "infotext": ("str", None),
}
TXT2IMG_FIELDS = _COMMON_FIELDS | {
    "enable_hr": ("bool", False),
    "firstphase_width": ("int", 0),
    "firstphase_height": ("int", 0),
    "hr_scale": ("float", 2.0),
    "hr_upscaler": ("str", None),
    "hr_second_pass_steps": ("int", 0),
    "hr_resize_x": ("int", 0),
    "hr_resize_y": ("int", 0),
    "hr_checkpoint_name": ("str", None),
    "hr_sampler_name": ("str", None),
    "hr_scheduler": ("str", None),
    "hr_prompt": ("str", ""),
    "hr_negative_prompt": ("str", ""),
}
IMG2IMG_FIELDS = _COMMON_FIELDS | {
    "init_images": ("list[str]", None),
    "resize_mode": ("int", 0),
    "image_cfg_scale": ("float", None),
    "mask": ("str", None),
    "mask_blur_x": ("int", 4),
    "mask_blur_y": ("int", 4),
    "mask_blur": ("int", None),
    "mask_round": ("bool", True),
    "inpainting_fill": ("int", 0),
    "inpaint_full_res": ("bool", True),
    "inpaint_full_res_padding": ("int", 0),
    "inpainting_mask_invert": ("int", 0),
    "initial_noise_multiplier": ("float", None),
    "latent_mask": ("str", None),
    "include_init_images": ("bool", False),
}
EXTRAS_FIELDS: dict[str, tuple[str, Any]] = {
    "resize_mode": ("int", 0),
    "show_extras_results": ("bool", True),
    "gfpgan_visibility": ("float", 0),
    "codeformer_visibility": ("float", 0),
    "codeformer_weight": ("float", 0),
    "upscaling_resize": ("float", 2),
    "upscaling_resize_w": ("int", 512),
    "upscaling_resize_h": ("int", 512),
    "upscaling_crop": ("bool", True),
    "upscaler_1": ("str", "None"),
    "upscaler_2": ("str", "None"),
    "extras_upscaler_2_visibility": ("float", 0),
    "upscale_first": ("bool", False),
    "image": ("str", ""),
}

# An upscale in extras costs as much as this many sampling steps.
EXTRAS_STEPS = 10

_BOOL_TRUE = {1, "1", "on", "t", "true", "y", "yes"}
_BOOL_FALSE = {0, "0", "off", "f", "false", "n", "no"}


class _HttpError(Exception):
    """An error response; the body is already in the shape the real node uses."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body

    @classmethod
    def http(cls, status: int, detail: str) -> _HttpError:
        """An HTTPException raised by webui code, rendered by A1111's exception handler."""
        return cls(status, {"error": "HTTPException", "detail": detail, "body": "", "errors": f"{status}: {detail}"})

    @classmethod
    def crash(cls, error: str, message: str) -> _HttpError:
        """Any other exception in webui code: 500 with the exception's class and text."""
        return cls(500, {"error": error, "detail": "", "body": "", "errors": message})


class _Invalid(Exception):
    """FastAPI's 422 for a body that does not fit the request model."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


class _Dropped(Exception):
    """The request gets no answer at all; the connection is closed."""


def _error(loc: list[str | int], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def _coerce(kind: str, value: Any, loc: list[str | int], errors: list[dict[str, Any]]) -> Any:
    """Convert one value the way pydantic 1 (A1111's FastAPI) does; append an error if it can't."""
    if value is None:
        return None
    if kind == "int":
        try:
            return int(value)  # pydantic 1 truncates 20.7 and accepts "20" and true
        except (TypeError, ValueError, OverflowError):
            errors.append(_error(loc, "value is not a valid integer", "type_error.integer"))
    elif kind == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            errors.append(_error(loc, "value is not a valid float", "type_error.float"))
    elif kind == "bool":
        if value is True or value is False:
            return value
        probe = value.lower() if isinstance(value, str) else value
        try:
            if probe in _BOOL_TRUE:
                return True
            if probe in _BOOL_FALSE:
                return False
        except TypeError:  # unhashable: a list or an object
            pass
        errors.append(_error(loc, "value could not be parsed to a boolean", "type_error.bool"))
    elif kind == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)):
            return str(value)
        errors.append(_error(loc, "str type expected", "type_error.str"))
    elif kind.startswith("list"):
        if not isinstance(value, list):
            errors.append(_error(loc, "value is not a valid list", "type_error.list"))
        elif kind == "list[str]":
            return [_coerce("str", item, [*loc, i], errors) for i, item in enumerate(value)]
        else:
            return value
    elif kind == "dict":
        if isinstance(value, dict):
            return value
        errors.append(_error(loc, "value is not a valid dict", "type_error.dict"))
    return None


def _validate(body: Any, fields: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """The request model: every field, coerced, defaulted; unknown keys are dropped silently."""
    if not isinstance(body, dict):
        raise _Invalid([_error(["body"], "value is not a valid dict", "type_error.dict")])
    errors: list[dict[str, Any]] = []
    req = {
        name: _coerce(kind, body[name], ["body", name], errors) if name in body else copy.copy(default)
        for name, (kind, default) in fields.items()
    }
    if errors:
        raise _Invalid(errors)
    return req


def _effective(req: dict[str, Any], fields: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """The values a job runs with: an explicit null means the default."""
    return {name: copy.copy(fields[name][1]) if value is None else value for name, value in req.items()}


@dataclass(frozen=True)
class Model:
    """A checkpoint; its hashes derive from its name, so they are stable across runs."""

    name: str  # relative file name, e.g. "sd_xl_base_1.0.safetensors" or "sub/x.ckpt"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()

    @property
    def shorthash(self) -> str:
        return self.sha256[:10]

    @property
    def title(self) -> str:
        return f"{self.name} [{self.shorthash}]"

    @property
    def model_name(self) -> str:
        return os.path.splitext(self.name.replace("/", "_"))[0]

    @property
    def short_name(self) -> str:
        """What info.sd_model_name and the infotext's "Model" show: basename without extension."""
        return os.path.splitext(os.path.basename(self.name))[0]

    @property
    def vram(self) -> int:
        return round(6.5 * GIB) if "xl" in self.name.lower() else 2 * GIB

    def aliases(self) -> set[str]:
        ids = {self.title, self.name, self.model_name, self.short_name, self.shorthash, self.sha256}
        return ids | {f"{self.short_name} [{self.shorthash}]"}

    def options(self) -> dict[str, str]:
        """The settings that name the selected checkpoint."""
        return {"sd_model_checkpoint": self.title, "sd_checkpoint_hash": self.sha256}

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "model_name": self.model_name,
            "hash": self.shorthash,
            "sha256": self.sha256,
            "filename": f"/sim/models/Stable-diffusion/{self.name}",
            "config": None,
        }


def _sampler_and_scheduler(name: str, scheduler: str | None) -> tuple[str, str]:
    """A1111's get_sampler_and_scheduler: legacy "DPM++ 2M Karras" names are split, unknown
    samplers fall back to the first one and unknown schedulers to Automatic, without an error."""
    found = next((s for s in SCHEDULERS if scheduler in (s["name"], s["label"])), SCHEDULERS[0])
    for s in SCHEDULERS:
        suffix = next((o for o in [s["label"], s["name"], *(s["aliases"] or [])] if name.endswith(" " + o)), None)
        if suffix:
            found, name = s, name[: -len(suffix) - 1]
            break
    sampler = next((s for s in SAMPLERS if s["name"] == name), SAMPLERS[0])
    if sampler["options"].get("scheduler") == found["name"]:
        found = SCHEDULERS[0]  # the sampler's own default scheduler is reported as Automatic
    return sampler["name"], found["label"]


def _quote(value: Any) -> str:
    text = str(value)
    if "," not in text and "\n" not in text and ":" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def _infotext(prompt: str, negative: str, params: dict[str, Any]) -> str:
    """A1111's create_infotext: the PNG "parameters" text and info.infotexts[i]."""
    text = ", ".join(k if k == v else f"{k}: {_quote(v)}" for k, v in params.items() if v is not None)
    negative_text = f"\nNegative prompt: {negative}" if negative else ""
    return f"{prompt}{negative_text}\n{text}".strip()


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return round(r * 255), round(g * 255), round(b * 255)


def render(prompt: str, seed: int, width: int, height: int) -> Image.Image:
    """The "finished" image: soft colour fields and a few translucent discs, all drawn from a
    hash of (prompt, seed, size). A 3×3 grid of colours resized bicubically gives smooth
    gradients for the cost of one resize."""
    rng = random.Random(hashlib.sha256(f"{seed}\0{width}x{height}\0{prompt}".encode()).digest())
    hue = rng.random()
    field = Image.new("RGB", (3, 3))
    field.putdata([_hsv(hue + rng.uniform(-0.12, 0.12), rng.uniform(0.3, 0.8), rng.uniform(0.35, 1.0)) for _ in range(9)])
    image = field.resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image, "RGBA")
    for _ in range(rng.randint(2, 5)):
        radius = rng.uniform(0.05, 0.25) * min(width, height)
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        colour = _hsv(hue + 0.5 + rng.uniform(-0.1, 0.1), rng.uniform(0.2, 0.6), rng.uniform(0.6, 1.0))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(*colour, rng.randint(60, 140)))
    return image


def partial(image: Image.Image, done: float) -> Image.Image:
    """The image after `done` (0..1) of its steps: a blocky, noisy 1/8-scale version (like a
    decoded early latent) fading into it."""
    rng = random.Random(f"{image.width}x{image.height}")
    size = (max(1, image.width // 8), max(1, image.height // 8))
    noise = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    coarse = Image.blend(noise, image.resize(size, Image.Resampling.BOX), 0.5).resize(image.size, Image.Resampling.NEAREST)
    return Image.blend(coarse, image, math.sqrt(done))


def _png(image: Image.Image, text: dict[str, str] | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buf = io.BytesIO()
    # Fast settings: a 512² image takes ~10 ms and ~60 kB, most of it Pillow's row filtering.
    image.save(buf, format="PNG", pnginfo=info, compress_level=1, compress_type=zlib.Z_RLE)
    return buf.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _decode_image(encoding: str) -> Image.Image:
    """A1111's decode_base64_to_image; this node never fetches URLs."""
    if encoding.startswith(("http://", "https://")):
        raise _HttpError.http(500, "Requests not allowed")
    if encoding.startswith("data:image/"):
        encoding = encoding.split(";")[1].split(",")[1]
    try:
        image = Image.open(io.BytesIO(base64.b64decode(encoding)))
        image.load()
    except (OSError, ValueError, binascii.Error, Image.DecompressionBombError) as e:
        raise _HttpError.http(500, "Invalid encoded image") from e
    return image


def _grid(images: list[Image.Image]) -> Image.Image:
    """A1111's image_grid with its default n_rows=-1: about square."""
    rows = min(len(images), round(math.sqrt(len(images))))
    cols = math.ceil(len(images) / rows)
    w, h = images[0].size
    grid = Image.new("RGB", (cols * w, rows * h))
    for i, image in enumerate(images):
        grid.paste(image, ((i % cols) * w, (i // cols) * h))
    return grid


class _FifoLock:
    """A lock granted in arrival order, like A1111's modules/fifo_lock.py."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next = 0  # ticket of the next arrival
        self._serving = 0  # ticket allowed to hold the lock

    def __enter__(self) -> None:
        with self._cond:
            ticket = self._next
            self._next += 1
            self._cond.wait_for(lambda: self._serving == ticket)

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()

    @property
    def waiting(self) -> int:
        """Requests queued behind the holder."""
        return max(0, self._next - self._serving - 1)


@dataclass
class _State:
    """The node-global job state /progress reports, A1111's shared.state.

    begin() resets it and end() clears only job and job_count, so an idle node shows the
    last job's step, job_no, timestamp and even interrupted=true, as A1111 does."""

    skipped: bool = False
    interrupted: bool = False
    stopping_generation: bool = False
    job: str = ""
    job_count: int = 0
    job_timestamp: str = "0"
    job_no: int = 0
    sampling_step: int = 0
    sampling_steps: int = 0
    time_start: float = 0.0
    preview: str | None = None  # base64 PNG of the live preview
    preview_step: int = 0
    preview_source: Image.Image | None = None  # thumbnail of the image being sampled

    def begin(self, job: str) -> None:
        self.sampling_step = 0
        self.time_start = time.time()
        self.job_count = -1  # until sampling starts, e.g. while a model loads
        self.job_no = 0
        self.job_timestamp = datetime.now().strftime("%Y%m%d%H%M%S")
        self.preview = self.preview_source = None
        self.preview_step = 0
        self.skipped = self.interrupted = self.stopping_generation = False
        self.job = job

    def end(self) -> None:
        self.job = ""
        self.job_count = 0
        self.preview_source = None

    def next_job(self) -> None:
        self.job_no += 1
        self.sampling_step = 0
        self.preview_step = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "skipped": self.skipped,
            "interrupted": self.interrupted,
            "stopping_generation": self.stopping_generation,
            "job": self.job,
            "job_count": self.job_count,
            "job_timestamp": self.job_timestamp,
            "job_no": self.job_no,
            "sampling_step": self.sampling_step,
            "sampling_steps": self.sampling_steps,
        }


@dataclass
class _Job:
    """One txt2img or img2img request after validation, before it takes the queue lock."""

    kind: str  # "txt2img" or "img2img"
    req: dict[str, Any]  # the request model, echoed as "parameters"
    p: dict[str, Any]  # the values it runs with
    sampler: str
    scheduler: str
    overrides: dict[str, Any]
    inits: list[Image.Image] = field(default_factory=list)
    hires: tuple[int, int, int] | None = None  # second pass: width, height, steps
    extra: dict[str, Any] = field(default_factory=dict)  # extra_generation_params


@dataclass
class _Request:
    query: dict[str, list[str]]
    body: bytes

    def json(self) -> Any:
        if not self.body:
            raise _Invalid([_error(["body"], "field required", "value_error.missing")])
        try:
            return json.loads(self.body)
        except json.JSONDecodeError as e:
            raise _Invalid([_error(["body", e.pos], e.msg, "value_error.jsondecode")]) from e
        except ValueError as e:  # not UTF-8
            raise _HttpError.http(400, "There was an error parsing the body") from e

    def flag(self, name: str, default: bool) -> bool:
        if name not in self.query:
            return default
        errors: list[dict[str, Any]] = []
        value = _coerce("bool", self.query[name][-1], ["query", name], errors)
        if errors:
            raise _Invalid(errors)
        return bool(value)


_Route = Callable[[_Request], Any]

CONTROL_KEYS = {"fail_rate", "hang_rate", "die_at_step", "stall_at_step", "step_seconds", "model_load_seconds"}


class SimulatedNode:
    """One fake node. The socket is bound on construction (port 0 picks a free one, see .url);
    serve_forever() answers requests until shutdown() is called from another thread.

    Faults:
    - fail_rate: chance that a generation answers 500 OutOfMemoryError (the node keeps serving).
    - hang_rate: chance that a generation never answers: the connection stays open until
      shutdown. The request is dropped before the queue lock, so the node itself stays usable
      and only that caller waits, as when a response is lost on the way.
    - die_at_step (control only): the process exits with os._exit(1) when the next job reaches
      that sampling step, like a node that crashes mid-job. Only for a node in a subprocess!
    - stall_at_step (control only): the next job stops advancing at that step and holds the
      queue lock until /interrupt or /skip, like a hung GPU.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        name: str = "sdnode",
        step_seconds: float = 0.05,
        models: Sequence[str] = DEFAULT_MODELS,
        auth: str | None = None,
        vram_gb: float = 8.0,
        fail_rate: float = 0.0,
        hang_rate: float = 0.0,
        model_load_seconds: float = 0.5,
        seed: int | None = None,
    ) -> None:
        if not models:
            raise ValueError("a node needs at least one model")
        self.name = name
        self.models = [Model(m) for m in models]
        self.auth = auth
        # "user:pass,user2:pass2", split like A1111's --api-auth
        pairs = [pair.split(":", 1) for pair in auth.split(",")] if auth else []
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError("auth must look like user:pass[,user2:pass2]")
        self._credentials = dict(pairs)
        self.vram = round(vram_gb * GIB)
        self._rng = random.Random(seed)
        self._cond = threading.Condition()  # guards everything below
        self._queue = _FifoLock()
        self._state = _State()
        self._control: dict[str, Any] = {
            "fail_rate": fail_rate,
            "hang_rate": hang_rate,
            "die_at_step": None,
            "stall_at_step": None,
            "step_seconds": step_seconds,
            "model_load_seconds": model_load_seconds,
        }
        self._options = OPTION_DEFAULTS | self.models[0].options()
        self._loaded = self.models[0]
        self._stopping = False
        self._counts: Counter[str] = Counter()
        self._requests: Counter[str] = Counter()
        self._in_progress = 0  # jobs holding the queue lock: never more than one
        self._max_concurrent = 0
        self._in_flight = 0  # generation requests received and not yet answered
        self._max_in_flight = 0
        self._job_vram = 0  # activations of the running job
        self._vram_peak = self._loaded.vram
        self._ooms = 0
        self._server = _Server((host, port), self)
        self._routes: dict[str, dict[str, _Route]] = {
            "/sdapi/v1/txt2img": {"POST": lambda r: self._counted(self._generate, "txt2img", r)},
            "/sdapi/v1/img2img": {"POST": lambda r: self._counted(self._generate, "img2img", r)},
            "/sdapi/v1/extra-single-image": {"POST": lambda r: self._counted(self._extras, r)},
            "/sdapi/v1/progress": {"GET": self._progress},
            "/sdapi/v1/interrupt": {"POST": self._interrupt},
            "/sdapi/v1/skip": {"POST": self._skip},
            "/sdapi/v1/options": {"GET": self._get_options, "POST": self._set_options},
            "/sdapi/v1/sd-models": {"GET": lambda r: [m.as_dict() for m in self.models]},
            "/sdapi/v1/samplers": {"GET": lambda r: SAMPLERS},
            "/sdapi/v1/schedulers": {"GET": lambda r: SCHEDULERS},
            "/sdapi/v1/upscalers": {"GET": lambda r: UPSCALERS},
            "/sdapi/v1/latent-upscale-modes": {"GET": lambda r: LATENT_UPSCALE_MODES},
            "/sdapi/v1/memory": {"GET": self._memory},
            "/sdapi/v1/cmd-flags": {"GET": self._cmd_flags},
            "/internal/ping": {"GET": lambda r: {}},
            "/_sim/control": {"POST": self._set_control},
            "/_sim/state": {"GET": self._sim_state},
        }

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.1)

    def shutdown(self) -> None:
        """Stop serving; running jobs end as if interrupted and hung requests are dropped."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def route(self, method: str, path: str, query: dict[str, list[str]], headers: Message, body: bytes) -> tuple[int, Any]:
        """Answer one request: (status, JSON body). Raises _Dropped to send nothing at all."""
        if not path.startswith("/_sim/"):
            with self._cond:
                self._requests[path] += 1
        handlers = self._routes.get(path)
        if handlers is None:
            return 404, {"detail": "Not Found"}
        handler = handlers.get(method)
        if handler is None:
            return 405, {"detail": "Method Not Allowed"}
        try:
            if path.startswith("/sdapi/"):
                self._authenticate(headers.get("Authorization", ""))
            return 200, handler(_Request(query, body))
        except _Invalid as e:
            return 422, {"detail": e.errors}
        except _HttpError as e:
            return e.status, e.body
        except _Dropped:
            raise
        except Exception as e:
            log.exception("%s %s failed", method, path)
            return 500, _HttpError.crash(type(e).__name__, str(e)).body

    def _authenticate(self, header: str) -> None:
        """FastAPI's HTTPBasic plus A1111's check; applies to /sdapi/* only, never /internal/*."""
        if not self._credentials:
            return
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            raise _HttpError.http(401, "Not authenticated")
        try:
            user, sep, password = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            sep = ""
        if not sep:
            raise _HttpError.http(401, "Invalid authentication credentials")
        expected = self._credentials.get(user)
        if expected is None or not compare_digest(password.encode(), expected.encode()):
            raise _HttpError.http(401, "Incorrect username or password")

    # Generation

    def _counted(self, handler: Callable[..., Any], *args: Any) -> Any:
        """Count the request as in flight until it is answered, queued or not: a platform that
        keeps at most one generation per node never shows max_in_flight > 1."""
        with self._cond:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            return handler(*args)
        finally:
            with self._cond:
                self._in_flight -= 1

    def _generate(self, kind: str, request: _Request) -> dict[str, Any]:
        job = self._prepare(kind, request.json())
        if self._roll("hang_rate"):
            self._hang()
        with self._queue:
            return self._run(job)

    def _prepare(self, kind: str, body: Any) -> _Job:
        """What A1111 does before taking the queue lock: validate, resolve names, decode images."""
        fields = TXT2IMG_FIELDS if kind == "txt2img" else IMG2IMG_FIELDS
        req = _validate(body, fields)
        p = _effective(req, fields)
        if p["script_name"]:
            raise _HttpError.http(422, f"Script '{p['script_name']}' not found")
        for title in p["alwayson_scripts"] or {}:
            if title.lower() not in ALWAYSON_SCRIPTS:
                raise _HttpError.http(422, f"always on script {title} not found")
        if min(p["steps"], p["batch_size"], p["n_iter"]) < 1 or min(p["width"], p["height"]) < 8:
            # A real node fails somewhere deep with a 500 too; the platform must validate first.
            raise _HttpError.crash("ValueError", "steps, batch_size and n_iter must be >= 1, width and height >= 8")
        sampler, scheduler = _sampler_and_scheduler(p["sampler_name"] or p["sampler_index"], p["scheduler"])
        job = _Job(kind, req, p, sampler, scheduler, self._check_overrides(p["override_settings"] or {}))
        if kind == "img2img":
            self._prepare_img2img(job)
        elif p["enable_hr"]:
            self._prepare_hires(job)
        return job

    def _check_overrides(self, overrides: dict[str, Any]) -> dict[str, Any]:
        overrides = dict(overrides)
        if "sd_model_checkpoint" in overrides:
            model = self._find_model(str(overrides.pop("sd_model_checkpoint")))
            # An unknown one is dropped silently: the job runs on the selected model.
            if model is not None:
                overrides |= model.options()
        with self._cond:
            unknown = [key for key in overrides if key not in self._options]
        if unknown:
            raise _HttpError.crash("KeyError", repr(unknown[0]))
        return overrides

    def _prepare_img2img(self, job: _Job) -> None:
        p = job.p
        if not p["init_images"]:
            raise _HttpError.http(404, "Init image not found")
        job.inits = [_decode_image(e).convert("RGB") for e in p["init_images"]]
        if p["mask"]:
            _decode_image(p["mask"])
        if len(job.inits) > p["batch_size"]:
            message = f"bad number of images passed: {len(job.inits)}; expecting {p['batch_size']} or less"
            raise _HttpError.crash("RuntimeError", message)
        if len(job.inits) > 1:
            p["batch_size"] = len(job.inits)
        job.extra["Denoising strength"] = p["denoising_strength"]
        if not p["include_init_images"]:
            job.req["init_images"] = job.req["mask"] = None

    def _prepare_hires(self, job: _Job) -> None:
        p = job.p
        upscaler = p["hr_upscaler"]
        if upscaler is not None and upscaler not in {u["name"] for u in UPSCALERS + LATENT_UPSCALE_MODES}:
            raise _HttpError.crash("Exception", f"could not find upscaler named {upscaler}")
        if p["hr_checkpoint_name"] and self._find_model(p["hr_checkpoint_name"]) is None:
            raise _HttpError.crash("Exception", f"Could not find checkpoint with name {p['hr_checkpoint_name']}")
        w, h, x, y = p["width"], p["height"], p["hr_resize_x"], p["hr_resize_y"]
        job.extra["Denoising strength"] = p["denoising_strength"]
        if not x and not y:
            size = (int(w * p["hr_scale"]), int(h * p["hr_scale"]))
            job.extra["Hires upscale"] = p["hr_scale"]
        else:
            size = (x or round(y * w / h), y or round(x * h / w))
            job.extra["Hires resize"] = f"{x}x{y}"
        if p["hr_second_pass_steps"]:
            job.extra["Hires steps"] = p["hr_second_pass_steps"]
        if upscaler is not None:
            job.extra["Hires upscaler"] = upscaler
        job.hires = (*size, p["hr_second_pass_steps"] or p["steps"])

    def _run(self, job: _Job) -> dict[str, Any]:
        """The part under the queue lock; like A1111 it always ends with state.end()."""
        with self._cond:
            self._state.begin(f"scripts_{job.kind}")
            self._counts["started"] += 1
            self._in_progress += 1
            self._max_concurrent = max(self._max_concurrent, self._in_progress)
        try:
            model = self._load_for_job(job.overrides)
            self._check_memory(job, model)
            with self._cond:
                options = self._options | job.overrides
                if not job.p["override_settings_restore_afterwards"]:
                    self._options.update(job.overrides)
            images, seeds, subseeds = self._sample_all(job)
        except Exception:
            with self._cond:
                self._counts["failed"] += 1
            raise
        finally:
            with self._cond:
                self._in_progress -= 1
                self._job_vram = 0
                self._state.end()
        with self._cond:
            self._counts["interrupted" if self._state.interrupted else "finished"] += 1
        return self._response(job, model, options, images, seeds, subseeds)

    def _load_for_job(self, overrides: dict[str, Any]) -> Model:
        """A1111 reloads the selected model before every job unless a known override names
        another; the override leaves its model loaded even when the setting is restored
        afterwards, so the next job without one reloads (model thrash, reference §10.3)."""
        with self._cond:
            wanted = overrides.get("sd_model_checkpoint", self._options["sd_model_checkpoint"])
        model = self._find_model(str(wanted)) or self._loaded
        self._load(model)
        return model

    def _load(self, model: Model) -> None:
        """Swap the loaded model; the caller holds the queue lock."""
        if model == self._loaded:
            return
        with self._cond:
            self._cond.wait_for(lambda: self._stopping, timeout=self._control["model_load_seconds"])
            self._loaded = model

    def _check_memory(self, job: _Job, model: Model) -> None:
        """CUDA OOM, A1111's most common 500: when the batch would not fit in VRAM beside the
        model, or at random with fail_rate. The node keeps serving afterwards."""
        w, h = job.hires[:2] if job.hires else (job.p["width"], job.p["height"])
        need = w * h * job.p["batch_size"] * 1200  # bytes of activations, roughly: SDXL 1024² fits in 8 GB
        if model.vram + need <= self.vram and not self._roll("fail_rate"):
            with self._cond:
                self._job_vram = need
            return
        with self._cond:
            self._ooms += 1
        raise _HttpError.crash(
            "OutOfMemoryError",
            f"CUDA out of memory. Tried to allocate {need / GIB:.2f} GiB (GPU 0; {self.vram / GIB:.2f} GiB total capacity; "
            f"{model.vram / GIB:.2f} GiB already allocated)",
        )

    def _sample_all(self, job: _Job) -> tuple[list[Image.Image], list[int], list[int]]:
        """The batch loop of process_images: n_iter batches of batch_size images each; an
        interrupted job stops after the current batch, a skipped batch ends early."""
        p = job.p
        count = p["batch_size"] * p["n_iter"]
        seed, subseed = self._fixed_seed(p["seed"]), self._fixed_seed(p["subseed"])
        seeds = [seed + (i if p["subseed_strength"] == 0 else 0) for i in range(count)]
        subseeds = [subseed + i for i in range(count)]
        size = job.hires[:2] if job.hires else (p["width"], p["height"])
        images: list[Image.Image] = []
        with self._cond:
            self._state.job_count = p["n_iter"] * (2 if job.hires else 1)
        for n in range(p["n_iter"]):
            with self._cond:
                self._state.skipped = False
                if self._state.interrupted or self._stopping:
                    break
                if p["n_iter"] > 1:
                    self._state.job = f"Batch {n + 1} out of {p['n_iter']}"
            batch = range(n * p["batch_size"], (n + 1) * p["batch_size"])
            finals = [self._final(job, seeds[i], size, i) for i in batch]
            with self._cond:
                self._state.preview_source = finals[0].copy()
                self._state.preview_source.thumbnail((128, 128))
            passes = [p["steps"]] + ([job.hires[2]] if job.hires else [])
            done = 1.0
            for i, steps in enumerate(passes):
                finished = self._sample(steps, p["batch_size"]) / steps
                if finished < 1:
                    # A stopped pass ends the batch; how far both passes got decides the look.
                    done = (i + finished) / len(passes)
                    break
            images += finals if done == 1 else [partial(image, done) for image in finals]
        return images, seeds, subseeds

    def _final(self, job: _Job, seed: int, size: tuple[int, int], index: int) -> Image.Image:
        image = render(job.p["prompt"], seed, *size)
        if job.inits:
            init = job.inits[index % len(job.inits)].resize(size)
            image = Image.blend(init, image, min(max(job.p["denoising_strength"], 0.0), 1.0))
        return image

    def _sample(self, steps: int, batch_size: int) -> int:
        """One sampling pass of steps × step_seconds per image; returns the steps done, fewer
        when interrupted, skipped or stopped. Ends with state.nextjob() like A1111."""
        st = self._state
        deadline = time.monotonic()

        def stopped() -> bool:
            return st.interrupted or st.skipped or self._stopping

        done = 0
        with self._cond:
            st.sampling_steps, st.sampling_step = steps, 0
            for step in range(1, steps + 1):
                deadline += self._control["step_seconds"] * batch_size
                if self._cond.wait_for(stopped, timeout=max(0.0, deadline - time.monotonic())):
                    break
                st.sampling_step = done = step
                if self._control["die_at_step"] == step:
                    log.warning("dying at step %d as told", step)
                    os._exit(1)
                if self._control["stall_at_step"] == step:
                    self._control["stall_at_step"] = None
                    log.warning("stalling at step %d as told", step)
                    self._cond.wait_for(stopped)
                    break
            st.next_job()
        return done

    def _hang(self) -> None:
        with self._cond:
            self._counts["hung"] += 1
            self._cond.wait_for(lambda: self._stopping)
        raise _Dropped

    def _response(
        self,
        job: _Job,
        model: Model,
        options: dict[str, Any],
        images: list[Image.Image],
        seeds: list[int],
        subseeds: list[int],
    ) -> dict[str, Any]:
        p = job.p
        count = len(seeds)
        prompts, negatives = [p["prompt"]] * count, [p["negative_prompt"]] * count
        restore_faces = options["face_restoration"] if p["restore_faces"] is None else p["restore_faces"]
        tiling = options["tiling"] if p["tiling"] is None else p["tiling"]
        clip_skip = options["CLIP_stop_at_last_layers"]
        resize_from = (p["seed_resize_from_w"], p["seed_resize_from_h"])

        def infotext(index: int) -> str:
            params = {
                "Steps": p["steps"],
                "Sampler": job.sampler,
                "Schedule type": job.scheduler,
                "CFG scale": p["cfg_scale"],
                "Image CFG scale": p.get("image_cfg_scale"),
                "Seed": seeds[index],
                "Face restoration": options["face_restoration_model"] if restore_faces else None,
                "Size": f"{p['width']}x{p['height']}",
                "Model hash": model.shorthash,
                "Model": model.short_name,
                "Variation seed": None if p["subseed_strength"] == 0 else subseeds[index],
                "Variation seed strength": None if p["subseed_strength"] == 0 else p["subseed_strength"],
                "Seed resize from": None if min(resize_from) <= 0 else "{}x{}".format(*resize_from),
                "Denoising strength": None,
                "Clip skip": None if clip_skip <= 1 else clip_skip,
                "Tiling": "True" if tiling else None,
                **job.extra,
                "Version": VERSION,
            }
            return _infotext(prompts[index], negatives[index], params)

        infotexts = [infotext(i) for i in range(len(images))]
        index_of_first_image = 0
        if p["save_images"] and len(images) > 1:
            images.insert(0, _grid(images))
            infotexts.insert(0, infotexts[0])
            index_of_first_image = 1
        with self._cond:
            timestamp = self._state.job_timestamp
        info = {
            "prompt": prompts[0],
            "all_prompts": prompts,
            "negative_prompt": negatives[0],
            "all_negative_prompts": negatives,
            "seed": seeds[0],
            "all_seeds": seeds,
            "subseed": subseeds[0],
            "all_subseeds": subseeds,
            "subseed_strength": p["subseed_strength"],
            "width": p["width"],
            "height": p["height"],
            "sampler_name": job.sampler,
            "cfg_scale": p["cfg_scale"],
            "steps": p["steps"],
            "batch_size": p["batch_size"],
            "restore_faces": restore_faces,
            "face_restoration_model": options["face_restoration_model"] if restore_faces else None,
            "sd_model_name": model.short_name,
            "sd_model_hash": model.shorthash,
            "sd_vae_name": None,
            "sd_vae_hash": None,
            "seed_resize_from_w": p["seed_resize_from_w"],
            "seed_resize_from_h": p["seed_resize_from_h"],
            "denoising_strength": p["denoising_strength"],
            "extra_generation_params": job.extra,
            "index_of_first_image": index_of_first_image,
            "infotexts": infotexts,
            "styles": p["styles"] or [],
            "job_timestamp": timestamp,
            "clip_skip": clip_skip,
            "is_using_inpainting_conditioning": False,
            "version": VERSION,
        }
        encoded = []
        if p["send_images"]:
            encoded = [_b64(_png(image, {"parameters": text})) for image, text in zip(images, infotexts)]
        return {"images": encoded, "parameters": job.req, "info": json.dumps(info)}

    def _fixed_seed(self, seed: int) -> int:
        if seed == -1:
            with self._cond:
                return self._rng.randrange(4294967294)
        return seed

    def _roll(self, rate: str) -> bool:
        with self._cond:
            return self._rng.random() < self._control[rate]

    def _find_model(self, name: str) -> Model | None:
        return next((m for m in self.models if name in m.aliases()), None)

    # Extras

    def _extras(self, request: _Request) -> dict[str, Any]:
        p = _effective(_validate(request.json(), EXTRAS_FIELDS), EXTRAS_FIELDS)
        image = _decode_image(p["image"])
        upscaler = p["upscaler_1"]
        if upscaler != "None" and upscaler not in {u["name"] for u in UPSCALERS}:
            raise _HttpError.crash("AssertionError", f"could not find upscaler named {upscaler}")
        with self._queue, self._cond:
            self._state.begin("extras")
            self._state.job_count = 1
            self._counts["started"] += 1
            self._in_progress += 1
            self._max_concurrent = max(self._max_concurrent, self._in_progress)
            # Upscaling can't be interrupted on A1111 either; only shutdown cuts it short.
            self._cond.wait_for(lambda: self._stopping, timeout=self._control["step_seconds"] * EXTRAS_STEPS)
            self._in_progress -= 1
            self._counts["finished"] += 1
            self._state.end()
        info: dict[str, Any] = {}
        if upscaler != "None":  # "None" leaves the image as it is, like A1111
            if p["resize_mode"] == 1:
                size = (p["upscaling_resize_w"], p["upscaling_resize_h"])
                info["Postprocess upscale to"] = f"{size[0]}x{size[1]}"
            else:
                size = (round(image.width * p["upscaling_resize"]), round(image.height * p["upscaling_resize"]))
                info["Postprocess upscale by"] = p["upscaling_resize"]
            info["Postprocess upscaler"] = upscaler
            image = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
        text = ", ".join(f"{k}: {_quote(v)}" for k, v in info.items())
        # The source's text chunks (its "parameters") survive, plus a "postprocessing" one.
        chunks = {k: v for k, v in image.info.items() if isinstance(k, str) and isinstance(v, str)}
        chunks["postprocessing"] = text
        return {"image": _b64(_png(image, chunks)), "html_info": f"<p>{html.escape(text)}</p>"}

    # Status

    def _progress(self, request: _Request) -> dict[str, Any]:
        skip_image = request.flag("skip_current_image", False)
        with self._cond:
            st = self._state
            if st.job_count == 0:
                return {"progress": 0, "eta_relative": 0, "state": st.as_dict(), "current_image": None, "textinfo": None}
            progress = 0.01
            if st.job_count > 0:
                progress += st.job_no / st.job_count
            if st.sampling_steps > 0:
                progress += 1 / st.job_count * st.sampling_step / st.sampling_steps
            elapsed = time.time() - st.time_start
            eta = elapsed / progress - elapsed
            self._update_preview()
            image = None if skip_image else st.preview
            return {
                "progress": min(progress, 1),
                "eta_relative": eta,
                "state": st.as_dict(),
                "current_image": image,
                "textinfo": None,
            }

    def _update_preview(self) -> None:
        """Like A1111, the preview is made when /progress asks, once enough steps passed."""
        st = self._state
        every = self._options["show_progress_every_n_steps"]
        if not self._options["live_previews_enable"] or every <= 0 or st.preview_source is None or st.sampling_steps <= 0:
            return
        if st.sampling_step - st.preview_step >= every:
            st.preview = _b64(_png(partial(st.preview_source, st.sampling_step / st.sampling_steps)))
            st.preview_step = st.sampling_step

    def _interrupt(self, request: _Request) -> dict[str, Any]:
        with self._cond:
            self._state.interrupted = True
            self._cond.notify_all()
        return {}

    def _skip(self, request: _Request) -> None:
        with self._cond:
            self._state.skipped = True
            self._cond.notify_all()

    def _get_options(self, request: _Request) -> dict[str, Any]:
        with self._cond:
            return dict(self._options)

    def _set_options(self, request: _Request) -> None:
        body = request.json()
        if not isinstance(body, dict):
            raise _Invalid([_error(["body"], "value is not a valid dict", "type_error.dict")])
        model = None
        if "sd_model_checkpoint" in body:
            model = self._find_model(str(body["sd_model_checkpoint"]))
            if model is None:
                raise _HttpError.crash("RuntimeError", f"model {body['sd_model_checkpoint']!r} not found")
        with self._cond:
            for key in body:
                if key not in self._options:
                    raise _HttpError.crash("KeyError", repr(key))
            self._options.update(body)
            if model is not None:
                self._options |= model.options()
        if model is not None:
            with self._queue:  # A1111 loads under the queue lock, so this waits for a running job
                self._load(model)

    def _memory(self, request: _Request) -> dict[str, Any]:
        ram_total = 32.0 * GIB
        ram_used = 6.0 * GIB
        with self._cond:
            used = min(self._loaded.vram + self._job_vram, self.vram)
            self._vram_peak = max(self._vram_peak, used)
            peak, ooms = self._vram_peak, self._ooms
        # A1111 reports the whole GPU as "system" and torch's allocator in the rest.
        system_used = min(self.vram, used + 512 * 1024**2)
        current = {"current": used, "peak": peak}
        return {
            "ram": {"free": ram_total - ram_used, "used": ram_used, "total": ram_total},
            "cuda": {
                "system": {"free": self.vram - system_used, "used": system_used, "total": self.vram},
                "active": current,
                "allocated": current,
                "reserved": {"current": min(self.vram, used + 256 * 1024**2), "peak": min(self.vram, peak + 256 * 1024**2)},
                "inactive": {"current": 0, "peak": 64 * 1024**2},
                "events": {"retries": 0, "oom": ooms},
            },
        }

    def _cmd_flags(self, request: _Request) -> dict[str, Any]:
        host, port = self._server.server_address[:2]
        return {
            "api": True,
            "nowebui": False,
            "listen": host != "127.0.0.1",
            "port": port,
            "api_auth": self.auth,  # A1111 echoes the credentials here too
            "api_log": False,
            "xformers": True,
            "medvram": False,
            "lowvram": False,
            "no_half": False,
            "data_dir": "/sim",
        }

    # Simulator control, not part of A1111

    def _set_control(self, request: _Request) -> dict[str, Any]:
        body = request.json()
        if not isinstance(body, dict):
            raise _HttpError.http(400, "expected a JSON object")
        unknown = set(body) - CONTROL_KEYS
        if unknown:
            raise _HttpError.http(400, f"unknown control keys: {', '.join(sorted(unknown))}")
        for key, value in body.items():
            if isinstance(value, bool):
                ok = False
            elif key.endswith("_at_step"):
                ok = value is None or isinstance(value, int) and value >= 1
            else:
                ok = isinstance(value, (int, float)) and value >= 0
            if not ok:
                raise _HttpError.http(400, f"bad value for {key}: {value!r}")
        with self._cond:
            self._control.update(body)
            self._cond.notify_all()
            return dict(self._control)

    def _sim_state(self, request: _Request) -> dict[str, Any]:
        with self._cond:
            return {
                "name": self.name,
                "jobs_started": self._counts["started"],
                "jobs_finished": self._counts["finished"],
                "jobs_interrupted": self._counts["interrupted"],
                "jobs_failed": self._counts["failed"],
                "jobs_hung": self._counts["hung"],
                "jobs_in_progress": self._in_progress,
                "jobs_waiting": self._queue.waiting,
                "max_concurrent": self._max_concurrent,
                "max_in_flight": self._max_in_flight,
                "loaded_model": self._loaded.title,
                "requests": dict(self._requests),
                "control": dict(self._control),
            }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], node: SimulatedNode) -> None:
        super().__init__(address, _Handler)
        self.node = node

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Mostly a caller that gave up (timeout) before its job finished: not worth a traceback.
        log.debug("error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the client's connection pool is exercised

    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        started = time.monotonic()
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            status, payload = self.server.node.route(self.command, url.path, parse_qs(url.query), self.headers, body)
        except _Dropped:
            self.close_connection = True
            return
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Process-Time", f"{time.monotonic() - started:.4f}")
        self.end_headers()
        self.wfile.write(data)

    def version_string(self) -> str:
        return "uvicorn"  # what A1111's server says

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)
