"""The A1111-compatible API at /sdapi/v1/: tools written for one webui node work against the cluster.

Requests and answers follow reference/a1111-api.md field for field: a
generation call answers when its job is done (an async view awaits the job
row; the worker does the GPU work), errors have A1111's shapes, and
authentication is A1111's ``--api-auth`` HTTP Basic, with the username and
an API token.

Where the cluster cannot do what a single node does, it says so instead of
quietly doing something else: hires fix, inpainting masks and scripts are
refused; options that would not change the picture much (styles, face
restoration, ...) are ignored and named in the job's notes.
"""

import asyncio
import base64
import binascii
import functools
import io
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from PIL import Image as PILImage
from pydantic import BaseModel, ConfigDict, ValidationError

from accounts.auth import credentials, user_for_token
from accounts.models import User
from cluster.catalog import offered_models, offered_samplers
from cluster.client import NodeClient, NodeError
from cluster.models import MODEL_HASH_SUFFIX, Node, model_key
from generation.forms import MAX_UPLOAD_BYTES, SCHEDULERS, GenerateForm
from generation.models import Image, Job
from generation.queue import queue_eta, queue_position
from generation.quotas import QuotaExceeded, check_limits, check_submission_rate
from generation.results import encode_file
from generation.submit import cancel_job, enqueue, submit_job

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
# One init image of the largest size the site accepts, base64-encoded, plus the other fields.
MAX_BODY_BYTES = MAX_UPLOAD_BYTES * 4 // 3 + 2**20
MAX_UPSCALE_FACTOR = 8
# A1111's own always-on scripts; any other title is an extension this cluster does not have.
BUILTIN_ALWAYSON_SCRIPTS = {"extra options", "hypertile", "refiner", "seed", "sampler"}
STATIC_UPSCALERS = ["None", "Lanczos", "Nearest", "ESRGAN_4x", "R-ESRGAN 4x+", "R-ESRGAN 4x+ Anime6B", "SwinIR 4x"]


# Request bodies: A1111's request models (every field optional, unknown keys ignored).


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class _GenerationRequest(_Body):
    """The fields txt2img and img2img share."""

    prompt: str | None = ""
    negative_prompt: str | None = ""
    styles: list[str] | None = None
    seed: int | None = -1
    subseed: int | None = -1
    subseed_strength: float | None = 0
    seed_resize_from_h: int | None = -1
    seed_resize_from_w: int | None = -1
    sampler_name: str | None = None
    scheduler: str | None = None
    batch_size: int | None = 1
    n_iter: int | None = 1
    steps: int | None = 50
    cfg_scale: float | None = 7.0
    width: int | None = 512
    height: int | None = 512
    restore_faces: bool | None = None
    tiling: bool | None = None
    do_not_save_samples: bool | None = False
    do_not_save_grid: bool | None = False
    eta: float | None = None
    denoising_strength: float | None = 0.75
    s_min_uncond: float | None = None
    s_churn: float | None = None
    s_tmax: float | None = None
    s_tmin: float | None = None
    s_noise: float | None = None
    override_settings: dict[str, Any] | None = None
    override_settings_restore_afterwards: bool | None = True
    refiner_checkpoint: str | None = None
    refiner_switch_at: float | None = None
    disable_extra_networks: bool | None = False
    firstpass_image: str | None = None
    comments: dict[str, Any] | None = None
    sampler_index: str | None = "Euler"
    script_name: str | None = None
    script_args: list[Any] | None = []
    send_images: bool | None = True
    save_images: bool | None = False
    alwayson_scripts: dict[str, Any] | None = {}
    force_task_id: str | None = None
    infotext: str | None = None


class Txt2ImgRequest(_GenerationRequest):
    enable_hr: bool | None = False
    firstphase_width: int | None = 0
    firstphase_height: int | None = 0
    hr_scale: float | None = 2.0
    hr_upscaler: str | None = None
    hr_second_pass_steps: int | None = 0
    hr_resize_x: int | None = 0
    hr_resize_y: int | None = 0
    hr_checkpoint_name: str | None = None
    hr_sampler_name: str | None = None
    hr_scheduler: str | None = None
    hr_prompt: str | None = ""
    hr_negative_prompt: str | None = ""


class Img2ImgRequest(_GenerationRequest):
    init_images: list[str] | None = None
    resize_mode: int | None = 0
    image_cfg_scale: float | None = None
    mask: str | None = None
    mask_blur_x: int | None = 4
    mask_blur_y: int | None = 4
    mask_blur: int | None = None
    mask_round: bool | None = True
    inpainting_fill: int | None = 0
    inpaint_full_res: bool | None = True
    inpaint_full_res_padding: int | None = 0
    inpainting_mask_invert: int | None = 0
    initial_noise_multiplier: float | None = None
    latent_mask: str | None = None
    include_init_images: bool | None = False


class ExtrasRequest(_Body):
    resize_mode: int | None = 0
    show_extras_results: bool | None = True
    gfpgan_visibility: float | None = 0
    codeformer_visibility: float | None = 0
    codeformer_weight: float | None = 0
    upscaling_resize: float | None = 2
    upscaling_resize_w: int | None = 512
    upscaling_resize_h: int | None = 512
    upscaling_crop: bool | None = True
    upscaler_1: str | None = "None"
    upscaler_2: str | None = "None"
    extras_upscaler_2_visibility: float | None = 0
    upscale_first: bool | None = False
    image: str | None = ""


class PngInfoRequest(_Body):
    image: str | None = ""


def _value(req: BaseModel, name: str) -> Any:
    """A field's value; an explicit null means the default, as in A1111."""
    value = getattr(req, name)
    return type(req).model_fields[name].default if value is None else value


# Errors in A1111's shapes (reference §5).


class _Refusal(Exception):
    """Stop handling the request and answer with this response."""

    def __init__(self, response: HttpResponse):
        super().__init__(response.status_code)
        self.response = response


def _error(status: int, error: str, message: str, detail: str = "") -> JsonResponse:
    """A1111's handler for every exception: {error, detail, body, errors}."""
    return JsonResponse({"error": error, "detail": detail, "body": "", "errors": message}, status=status)


def _http_error(status: int, detail: str) -> JsonResponse:
    """An HTTPException raised in the webui's code, through the same handler."""
    return _error(status, "HTTPException", f"{status}: {detail}", detail=detail)


def _invalid(errors: list[tuple[list[Any], str, str]]) -> JsonResponse:
    """FastAPI's 422: one entry per problem, located in the body or the query."""
    return JsonResponse({"detail": [{"loc": loc, "msg": msg, "type": kind} for loc, msg, kind in errors]}, status=422)


def _too_many(e: QuotaExceeded) -> JsonResponse:
    response = JsonResponse({"error": e.code, "detail": e.message}, status=429)
    if e.retry_after_seconds():
        response["Retry-After"] = str(e.retry_after_seconds())
    return response


def _no_nodes() -> JsonResponse:
    message = _("No SD node is available right now. Please try again in a minute, or ask an administrator to check the nodes.")
    return _error(503, "ServiceUnavailable", message, detail=message)


@csrf_exempt  # a POST to an unknown route is a 404 here, not a CSRF failure
def not_found(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"detail": "Not Found"}, status=404)


# Authentication and the shape every view shares.


def _authenticate(request: HttpRequest) -> User:
    """The token's user, as A1111's --api-auth answers: no credentials, bad ones, wrong ones."""
    header = request.headers.get("Authorization", "")
    if header.split(" ", 1)[0].lower() not in ("basic", "bearer"):
        raise _Refusal(JsonResponse({"detail": "Not authenticated"}, status=401))
    found = credentials(header)
    if found is None:
        raise _Refusal(JsonResponse({"detail": "Invalid authentication credentials"}, status=401))
    user = user_for_token(*found)
    if user is None:
        raise _Refusal(JsonResponse({"detail": "Incorrect username or password"}, status=401))
    return user


def _api(*methods: str) -> Callable:
    """Method check (405 before authentication, as FastAPI routes), token authentication,
    no CSRF and no session; the view gets the user and may raise _Refusal."""

    def decorate(view: Callable) -> Callable:
        if iscoroutinefunction(view):

            async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                started = time.monotonic()
                try:
                    _check_method(request, methods)
                    user = await sync_to_async(_authenticate)(request)
                    response = await view(request, user, *args, **kwargs)
                except _Refusal as e:
                    response = e.response
                except Exception as e:
                    response = _crashed(request, e)
                response["X-Process-Time"] = f"{time.monotonic() - started:.4f}"
                return response

        else:

            def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                started = time.monotonic()
                try:
                    _check_method(request, methods)
                    response = view(request, _authenticate(request), *args, **kwargs)
                except _Refusal as e:
                    response = e.response
                except Exception as e:
                    response = _crashed(request, e)
                response["X-Process-Time"] = f"{time.monotonic() - started:.4f}"
                return response

        return csrf_exempt(functools.wraps(view)(wrapper))

    return decorate


def _crashed(request: HttpRequest, e: Exception) -> JsonResponse:
    """A1111 answers every exception in its error shape; the text stays in our log, not with the caller."""
    log.exception("%s %s failed", request.method, request.path)
    return _error(500, type(e).__name__, _("Internal error; it has been logged."))


def _check_method(request: HttpRequest, methods: tuple[str, ...]) -> None:
    if request.method not in methods:
        raise _Refusal(JsonResponse({"detail": "Method Not Allowed"}, status=405))


def _parse(request: HttpRequest, model: type[BaseModel]) -> Any:
    """The JSON body as the request model, or FastAPI's 422."""
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
        raise _Refusal(_too_large())
    # read() rather than .body: DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) is too small for an init image.
    raw = request.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise _Refusal(_too_large())
    if not raw.strip():
        raise _Refusal(_invalid([(["body"], "Field required", "missing")]))
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise _Refusal(JsonResponse({"detail": "There was an error parsing the body"}, status=400)) from None
    except json.JSONDecodeError as e:
        raise _Refusal(_invalid([(["body", e.pos], f"JSON decode error: {e.msg}", "json_invalid")])) from None
    except RecursionError:
        raise _Refusal(_invalid([(["body"], "JSON nested too deeply", "json_invalid")])) from None
    try:
        return model.model_validate(data)
    except RecursionError:
        raise _Refusal(_invalid([(["body"], "JSON nested too deeply", "json_invalid")])) from None
    except ValidationError as e:
        errors = [(["body", *error["loc"]], error["msg"], error["type"]) for error in e.errors(include_url=False)]
        raise _Refusal(_invalid(errors)) from None


def _too_large() -> JsonResponse:
    message = _("The request is larger than %(mb)d MB.") % {"mb": MAX_BODY_BYTES // 2**20}
    return _error(413, "PayloadTooLarge", message, detail=message)


def _decode_image(data: str | None, loc: list[str | int]) -> tuple[bytes, PILImage.Image]:
    """A1111's decode_base64_to_image: base64 with or without a data: prefix; URLs are not fetched.

    The image is loaded (so text chunks after the pixels are read too) only
    once its size is known to be sane: a small PNG can decode to gigabytes.
    """
    data = (data or "").strip()
    if data.startswith(("http://", "https://")):
        # A node may fetch URLs; a shared service must not fetch for its users (SSRF).
        raise _Refusal(_http_error(500, "Requests not allowed"))
    if data.startswith("data:"):
        data = data.split(",", 1)[-1]
    limit = 4 * settings.JOB_MAX_SIDE**2
    try:
        raw = base64.b64decode(data)
        with PILImage.open(io.BytesIO(raw)) as img:
            if img.width * img.height > limit:
                message = _("The image is too large: %(w)d×%(h)d is more than %(max)d pixels.") % {"w": img.width, "h": img.height, "max": limit}
                raise _Refusal(_invalid([(["body", *loc], message, "value_error")]))
            img.load()
            return raw, img
    except (binascii.Error, ValueError, OSError, PILImage.DecompressionBombError):
        raise _Refusal(_http_error(500, "Invalid encoded image")) from None


# txt2img and img2img


@_api("POST")
async def txt2img(request: HttpRequest, user: User) -> HttpResponse:
    req = _parse(request, Txt2ImgRequest)
    job_id = await sync_to_async(_submit)(request, user, Job.Kind.TXT2IMG, req)
    return await _finish(job_id, req)


@_api("POST")
async def img2img(request: HttpRequest, user: User) -> HttpResponse:
    req = _parse(request, Img2ImgRequest)
    job_id = await sync_to_async(_submit)(request, user, Job.Kind.IMG2IMG, req)
    return await _finish(job_id, req)


def _submit(request: HttpRequest, user: User, kind: str, req: _GenerationRequest) -> int:
    """Validate like GenerateForm, check the rate and quotas, queue the job; returns its id."""
    _refuse_unsupported(req)
    files = {"init_image": _init_image(req)} if kind == Job.Kind.IMG2IMG else {}
    data: dict[str, Any] = {
        "kind": kind,
        "prompt": _value(req, "prompt"),
        "negative_prompt": _value(req, "negative_prompt"),
        "seed": _value(req, "seed"),
        "steps": _value(req, "steps"),
        "cfg_scale": _value(req, "cfg_scale"),
        "width": _value(req, "width"),
        "height": _value(req, "height"),
        "batch_size": _value(req, "batch_size"),
        "n_iter": _value(req, "n_iter"),
    }
    if kind == Job.Kind.IMG2IMG:
        data["denoising_strength"] = _value(req, "denoising_strength")
    form = GenerateForm(data, files, owner=user)
    if not form.nodes:
        raise _Refusal(_no_nodes())
    # A1111 accepts an empty prompt; the site's form does not.
    form.fields["prompt"].required = False
    # The form validates lazily: the choices that depend on what the nodes offer go in now.
    sampler_field = "sampler_name" if req.sampler_name else "sampler_index"
    data["sampler_name"], data["scheduler"] = _sampler_and_scheduler(req, form.samplers)
    data["model"], notes = _model(req, user, form)
    if not form.is_valid():
        raise _Refusal(_form_errors(form, sampler_field))
    request.user = user  # the per-user rate limit keys on it
    try:
        check_submission_rate(request)
        job = submit_job(user, form.cleaned_data, notes=[*form.notes, *notes, *_ignored(req)])
    except QuotaExceeded as e:
        raise _Refusal(_too_many(e)) from None
    if (req.override_settings or {}).get("sd_model_checkpoint") and req.override_settings_restore_afterwards is False:
        # On a node the override then stays the selected model; here, the caller's default.
        User.objects.filter(pk=user.pk).update(default_model=job.model)
    return job.pk


def _refuse_unsupported(req: _GenerationRequest) -> None:
    """What a node would do and the cluster cannot: refuse rather than return something else."""
    if req.script_name:
        raise _Refusal(_http_error(422, f"Script '{req.script_name}' not found"))
    for title in req.alwayson_scripts or {}:
        if title.lower() not in BUILTIN_ALWAYSON_SCRIPTS:
            raise _Refusal(_http_error(422, f"always on script {title} not found"))
    if getattr(req, "enable_hr", False):
        raise _Refusal(_invalid([(["body", "enable_hr"], _("Hires fix is not supported by this cluster; upscale the result instead."), "value_error")]))
    if getattr(req, "mask", None):
        raise _Refusal(_invalid([(["body", "mask"], _("Inpainting with a mask is not supported by this cluster."), "value_error")]))


def _init_image(req: Img2ImgRequest) -> SimpleUploadedFile:
    if not req.init_images:
        raise _Refusal(_http_error(404, "Init image not found"))
    raw, img = _decode_image(req.init_images[0], ["init_images", 0])
    ext = {"JPEG": "jpg"}.get(img.format or "", (img.format or "png").lower())
    return SimpleUploadedFile(f"init.{ext}", raw, content_type=PILImage.MIME.get(img.format or "", "image/png"))


def _sampler_and_scheduler(req: _GenerationRequest, offered: list[str]) -> tuple[str, str]:
    """A1111's get_sampler_and_scheduler: legacy names such as "DPM++ 2M Karras" are split, and
    a scheduler may be given by label ("Karras") or name ("karras")."""
    sampler = req.sampler_name or _value(req, "sampler_index")
    scheduler = _scheduler_label(req.scheduler or "Automatic") or req.scheduler or "Automatic"
    if sampler not in offered:
        for label in SCHEDULERS:
            for suffix in {label, _scheduler_name(label)}:
                if sampler.endswith(" " + suffix) and sampler[: -len(suffix) - 1] in offered:
                    return sampler[: -len(suffix) - 1], label
    return sampler, scheduler


def _scheduler_name(label: str) -> str:
    return label.lower().replace(" ", "_")


def _scheduler_label(name: str) -> str | None:
    wanted = name.strip().lower()
    return next((label for label in SCHEDULERS if wanted in (label.lower(), _scheduler_name(label), "sgmuniform" if label == "SGM Uniform" else "")), None)


def _model(req: _GenerationRequest, user: User, form: GenerateForm) -> tuple[str, list[str]]:
    """The model to ask for: the request's override, else the caller's default, else the one
    most nodes have loaded (the form's suggestion)."""
    override = (req.override_settings or {}).get("sd_model_checkpoint")
    if override:
        return str(override), []
    fallback = form.fields["model"].initial or next(iter(form.models.values()), "")
    if not user.default_model:
        return fallback, []
    if model_key(user.default_model) in form.models:
        return user.default_model, []
    note = _("Your default model %(missing)s is not on the cluster any more; %(model)s was used instead.") % {
        "missing": user.default_model,
        "model": fallback,
    }
    return fallback, [note]


# Form fields whose A1111 name differs; the rest are called the same.
FORM_LOCATIONS: dict[str, list[str | int]] = {
    "model": ["override_settings", "sd_model_checkpoint"],
    "init_image": ["init_images", 0],
    "kind": [],
    "source": [],
    "__all__": [],
}


def _form_errors(form: GenerateForm, sampler_field: str) -> JsonResponse:
    errors = []
    for field, messages in form.errors.items():
        loc = [sampler_field] if field == "sampler_name" else FORM_LOCATIONS.get(field, [field])
        errors += [(["body", *loc], str(message), "value_error") for message in messages]
    return _invalid(errors)


def _ignored(req: _GenerationRequest) -> list[str]:
    """Options a node would apply and the cluster does not, told to the user in the job's notes."""
    names = []
    if req.styles:
        names.append("styles")
    if req.subseed_strength:
        names.append("subseed_strength")
    if req.restore_faces:
        names.append("restore_faces")
    if req.tiling:
        names.append("tiling")
    names += [f"override_settings.{key}" for key in req.override_settings or {} if key != "sd_model_checkpoint"]
    if isinstance(req, Img2ImgRequest) and req.init_images and len(req.init_images) > 1:
        names.append("init_images[1:]")
    if not names:
        return []
    return [_("The A1111 API options %(names)s are not supported by this cluster and were ignored.") % {"names": ", ".join(names)}]


async def _wait(job_id: int) -> bool:
    """Poll the job until it ends or SDAPI_WAIT_SECONDS pass; True when it ended.

    Each poll is one indexed query in the request's thread; in between the
    view only awaits, and a client that hangs up cancels the wait (not the
    job, as on a node). While a sync-only middleware (WhiteNoise) is in the
    chain, Django still parks that thread for the whole request.
    """
    timeout = getattr(settings, "SDAPI_WAIT_SECONDS", 600)
    deadline = time.monotonic() + timeout
    while True:
        if await sync_to_async(_is_final)(job_id):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)


def _is_final(job_id: int) -> bool:
    return Job.objects.filter(pk=job_id, status__in=Job.FINAL).exists()


async def _finish(job_id: int, req: _GenerationRequest) -> HttpResponse:
    if not await _wait(job_id):
        return await sync_to_async(_timed_out)(job_id)
    return await sync_to_async(_generation_response)(job_id, req)


def _timed_out(job_id: int) -> JsonResponse:
    code = Job.objects.values_list("code", flat=True).get(pk=job_id)
    message = _("Job %(job)s did not finish within %(seconds)d seconds. It keeps running and will appear in your gallery when done.") % {
        "job": code,
        "seconds": getattr(settings, "SDAPI_WAIT_SECONDS", 600),
    }
    return _error(504, "TimeoutError", message, detail=message)


def _failed(job: Job) -> JsonResponse:
    message = job.error or _("The job failed.")
    return _error(500, "TimeoutError" if job.status == Job.Status.EXPIRED else "RuntimeError", message)


def _generation_response(job_id: int, req: _GenerationRequest) -> JsonResponse:
    """A1111's {images, parameters, info} from the stored job and images.

    A cancelled (interrupted) job answers 200 with whatever images it has,
    as an interrupted node does.
    """
    job = Job.objects.select_related("node").get(pk=job_id)
    if job.status in (Job.Status.FAILED, Job.Status.EXPIRED):
        return _failed(job)
    images = list(job.images.order_by("index"))
    parameters = req.model_dump()
    if isinstance(req, Img2ImgRequest) and not req.include_init_images:
        parameters["init_images"] = parameters["mask"] = None
    body = {
        "images": [encode_file(image.file) for image in images] if _value(req, "send_images") else [],
        "parameters": parameters,
        "info": json.dumps(_info(job, images, req)),
    }
    return JsonResponse(body)


def _info(job: Job, images: list[Image], req: _GenerationRequest) -> dict[str, Any]:
    """The webui's info object, from what actually ran: real seeds and infotexts from the images."""
    n = len(images)
    seeds = [image.seed if image.seed is not None else job.seed for image in images]
    subseed = _value(req, "subseed")
    model_hash = re.search(r"\[([0-9a-fA-F]{8,64})\]$", job.model)
    extra = {"Denoising strength": job.denoising_strength} if job.kind == Job.Kind.IMG2IMG else {}
    return {
        "prompt": job.prompt,
        "all_prompts": [job.prompt] * n,
        "negative_prompt": job.negative_prompt,
        "all_negative_prompts": [job.negative_prompt] * n,
        "seed": seeds[0] if seeds else job.seed,
        "all_seeds": seeds,
        # Variation seeds are not used (subseed_strength is ignored): report them as asked.
        "subseed": subseed,
        "all_subseeds": [subseed + i if subseed != -1 else -1 for i in range(n)],
        "subseed_strength": 0,
        "width": job.width,
        "height": job.height,
        "sampler_name": job.sampler_name,
        "cfg_scale": job.cfg_scale,
        "steps": job.steps,
        "batch_size": job.batch_size,
        "restore_faces": False,
        "face_restoration_model": None,
        "sd_model_name": (images[0].model_name if images else "") or model_key(job.model),
        "sd_model_hash": model_hash.group(1) if model_hash else None,
        "sd_vae_name": None,
        "sd_vae_hash": None,
        "seed_resize_from_w": -1,
        "seed_resize_from_h": -1,
        "denoising_strength": job.denoising_strength if job.kind == Job.Kind.IMG2IMG else _value(req, "denoising_strength"),
        "extra_generation_params": extra,
        "index_of_first_image": 0,
        "infotexts": [image.infotext for image in images],
        "styles": [],
        "job_timestamp": _timestamp(job),
        "clip_skip": 1,
        "is_using_inpainting_conditioning": False,
        # What the node wrote into the image; the node row learns it only after the job.
        "version": (parse_infotext(images[0].infotext).get("Version") if images and images[0].infotext else None) or (job.node.version if job.node else ""),
    }


def _timestamp(job: Job) -> str:
    return timezone.localtime(job.started_at).strftime("%Y%m%d%H%M%S") if job.started_at else "0"


# Upscaling and PNG info


@_api("POST")
async def extra_single_image(request: HttpRequest, user: User) -> HttpResponse:
    req = _parse(request, ExtrasRequest)
    job_id = await sync_to_async(_submit_upscale)(request, user, req)
    if not await _wait(job_id):
        return await sync_to_async(_timed_out)(job_id)
    return await sync_to_async(_upscale_response)(job_id)


def _submit_upscale(request: HttpRequest, user: User, req: ExtrasRequest) -> int:
    """An UPSCALE job from the posted image, checked and counted like a generation of one image.

    Only "scale by" (resize_mode 0) with upscaler_1 is done; face restoration
    and the second upscaler are ignored.
    """
    raw, img = _decode_image(req.image, ["image"])
    nodes = list(Node.available())
    if not nodes:
        raise _Refusal(_no_nodes())
    if _value(req, "resize_mode") != 0:
        raise _Refusal(_invalid([(["body", "resize_mode"], _("Only resize_mode 0 (scale by upscaling_resize) is supported."), "value_error")]))
    upscaler = _value(req, "upscaler_1")
    if upscaler not in _upscaler_names():
        raise _Refusal(_error(500, "AssertionError", f"could not find upscaler named {upscaler}"))
    factor = _value(req, "upscaling_resize")
    if not 1 <= factor <= MAX_UPSCALE_FACTOR:
        message = _("Ensure this value is between 1 and %(max)d.") % {"max": MAX_UPSCALE_FACTOR}
        raise _Refusal(_invalid([(["body", "upscaling_resize"], message, "value_error")]))
    width, height = round(img.width * factor), round(img.height * factor)
    problems = list(check_limits(user, width, height, 1, 1).values())
    if not any(node.max_pixels >= width * height for node in nodes):
        problems.append(
            _("%(w)d×%(h)d is larger than any node can produce (at most %(max)d pixels).")
            % {"w": width, "h": height, "max": max(node.max_pixels for node in nodes)}
        )
    if problems:
        raise _Refusal(_invalid([(["body", "upscaling_resize"], message, "value_error") for message in problems]))
    # The source's own parameters, when it has them, label the result in the gallery.
    params = parse_infotext(img.info.get("parameters", "")) if isinstance(img.info.get("parameters"), str) else {}
    request.user = user
    try:
        check_submission_rate(request)
        job = Job(
            owner=user,
            kind=Job.Kind.UPSCALE,
            upscaler=upscaler,
            upscale_factor=factor,
            width=width,
            height=height,
            prompt=params.get("Prompt", ""),
            negative_prompt=params.get("Negative prompt", ""),
            seed=_int(params.get("Seed"), -1),
            model=params.get("Model", "")[:300],
        )
        enqueue(job, (f"upscale.{(img.format or 'png').lower()}", ContentFile(raw)))
    except QuotaExceeded as e:
        raise _Refusal(_too_many(e)) from None
    return job.pk


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _upscale_response(job_id: int) -> JsonResponse:
    job = Job.objects.get(pk=job_id)
    if job.status in (Job.Status.FAILED, Job.Status.EXPIRED):
        return _failed(job)
    image = job.images.order_by("index").first()
    if image is None:  # cancelled before the node answered
        return _http_error(500, "Interrupted")
    return JsonResponse({"image": encode_file(image.file), "html_info": ""})


@_api("POST")
def png_info(request: HttpRequest, user: User) -> JsonResponse:
    req = _parse(request, PngInfoRequest)
    if not (req.image or "").strip():
        return JsonResponse({"info": "", "items": {}, "parameters": {}})
    _, img = _decode_image(req.image, ["image"])
    items = {key: value for key, value in img.info.items() if isinstance(key, str) and isinstance(value, (str, int, float))}
    info = items.pop("parameters", "")
    return JsonResponse({"info": info, "items": items, "parameters": parse_infotext(str(info)) if info else {}})


# A1111's infotext: "prompt\nNegative prompt: ...\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 512x512, ..."
INFOTEXT_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
INFOTEXT_SIZE = re.compile(r"^(\d+)x(\d+)$")


def parse_infotext(text: str) -> dict[str, Any]:
    """A1111's parse_generation_parameters, without its per-version defaults: values stay strings."""
    lines = text.strip().split("\n")
    last = lines.pop()
    if len(INFOTEXT_PARAM.findall(last)) < 3:  # no parameter line: all of it is prompt
        lines.append(last)
        last = ""
    prompt: list[str] = []
    negative: list[str] = []
    for line in lines:
        if line.startswith("Negative prompt:"):
            negative.append(line[len("Negative prompt:") :].strip())
        else:
            (negative if negative else prompt).append(line)
    params: dict[str, Any] = {"Prompt": "\n".join(prompt), "Negative prompt": "\n".join(negative)}
    for key, value in INFOTEXT_PARAM.findall(last):
        if value.startswith('"') and value.endswith('"'):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        size = INFOTEXT_SIZE.match(value)
        if size:
            params[f"{key}-1"], params[f"{key}-2"] = size.groups()
        else:
            params[key] = value
    return params


# Progress and control of the caller's own jobs


@_api("GET")
def progress(request: HttpRequest, user: User) -> JsonResponse:
    """The caller's job in A1111's progress shape: the running one, else the next queued one.

    Unlike a node's, this progress is per user: other users' jobs never show.
    """
    skip_image = _flag(request, "skip_current_image", False)
    active = list(Job.objects.filter(owner=user, status__in=Job.ACTIVE).select_related("node").order_by("started_at", "created_at", "pk"))
    order = {Job.Status.RUNNING: 0, Job.Status.ASSIGNED: 1, Job.Status.QUEUED: 2}
    job = min(active, key=lambda j: order[j.status], default=None)
    if job is None:
        return JsonResponse(_idle())
    state = {
        "skipped": False,
        "interrupted": job.cancel_requested,
        "stopping_generation": False,
        "job": "extras" if job.kind == Job.Kind.UPSCALE else f"scripts_{job.kind}",
        "job_count": 1 if job.kind == Job.Kind.UPSCALE else job.n_iter,
        "job_timestamp": _timestamp(job),
        "job_no": 0,
        "sampling_step": job.step,
        "sampling_steps": job.steps,
    }
    if job.status == Job.Status.QUEUED:
        # A node would not show a request waiting for its lock at all; "-1 jobs" reads as busy.
        position = queue_position(job) or 1
        state["job_count"] = -1
        textinfo = _("In queue: position %(n)d") % {"n": position}
        return JsonResponse({"progress": 0, "eta_relative": queue_eta(job, position), "state": state, "current_image": None, "textinfo": textinfo})
    if job.status == Job.Status.ASSIGNED:
        state["job_count"] = -1  # as a node between a job's start and its first step
    fraction = max(0.01, job.progress)
    state["job_no"] = min(max(0, state["job_count"] - 1), int((fraction - 0.01) * max(1, state["job_count"])))
    body: dict[str, Any] = {"progress": fraction, "eta_relative": _eta(job, fraction), "state": state, "current_image": None, "textinfo": None}
    if not skip_image and job.status == Job.Status.RUNNING:
        body.update(_live(job, state))
    return JsonResponse(body)


def _idle() -> dict[str, Any]:
    state = {
        "skipped": False,
        "interrupted": False,
        "stopping_generation": False,
        "job": "",
        "job_count": 0,
        "job_timestamp": "0",
        "job_no": 0,
        "sampling_step": 0,
        "sampling_steps": 0,
    }
    return {"progress": 0, "eta_relative": 0, "state": state, "current_image": None, "textinfo": None}


def _eta(job: Job, fraction: float) -> float:
    if job.eta_seconds is not None:
        return job.eta_seconds
    if not job.started_at:
        return 0.0
    elapsed = (timezone.now() - job.started_at).total_seconds()
    return max(0.0, elapsed / fraction - elapsed)


def _flag(request: HttpRequest, name: str, default: bool) -> bool:
    value = request.GET.get(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "t", "yes", "y", "on"):
        return True
    if value.lower() in ("0", "false", "f", "no", "n", "off"):
        return False
    raise _Refusal(_invalid([(["query", name], "Input should be a valid boolean, unable to interpret input", "bool_parsing")]))


def _alone_on_node(job: Job) -> bool:
    """Is the job running, and the only platform job in flight on its node?

    Progress, skip and interrupt are node-global in A1111 (reference §10.4):
    only then does the node's state belong to this job.
    """
    if job.node_id is None or not Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, node_id=job.node_id).exists():
        return False
    return not Job.objects.filter(node_id=job.node_id, status__in=Job.IN_FLIGHT).exclude(pk=job.pk).exists()


def _client(node: Node) -> NodeClient:
    return NodeClient(node.url, node.auth, connect_timeout=2, status_timeout=settings.NODE_CHECK_TIMEOUT)


def _live(job: Job, state: dict[str, Any]) -> dict[str, Any]:
    """The node's own numbers and live preview, when the node is working on this job alone."""
    if not _alone_on_node(job):
        return {}
    try:
        with _client(job.node) as client:
            live = client.progress(skip_current_image=False)
    except NodeError:
        return {}
    node_state = live.get("state") if isinstance(live, dict) else None
    # Checked again afterwards: the job may have ended (and another begun) during the call.
    if not isinstance(node_state, dict) or node_state.get("job_count", 0) == 0 or not _alone_on_node(job):
        return {}
    merged = {**state, **{key: node_state[key] for key in state if key in node_state and key != "interrupted"}}
    return {
        "progress": live.get("progress", 0),
        "eta_relative": live.get("eta_relative", 0),
        "state": merged,
        "current_image": live.get("current_image"),
        "textinfo": live.get("textinfo"),
    }


@_api("POST")
def interrupt(request: HttpRequest, user: User) -> JsonResponse:
    """Stop the caller's jobs that are on a node (assigned or running); queued ones stay queued,
    like requests waiting for a node's lock. The waiting txt2img call then answers 200."""
    for job in Job.objects.filter(owner=user, status__in=Job.IN_FLIGHT):
        cancel_job(job)
    return JsonResponse({})


@_api("POST")
def skip(request: HttpRequest, user: User) -> JsonResponse:
    """A1111's skip: the node abandons the current batch of the caller's running job and goes on
    with the next; the job then succeeds with what was made. Sent only to a node whose state is
    the caller's job alone; otherwise nothing happens."""
    for job in Job.objects.filter(owner=user, status=Job.Status.RUNNING).select_related("node"):
        if _alone_on_node(job):
            try:
                with _client(job.node) as client:
                    client.skip()
            except NodeError:
                pass
    return JsonResponse(None, safe=False)


# What the cluster offers


@_api("GET")
def sd_models(request: HttpRequest, user: User) -> JsonResponse:
    """The models of the healthy nodes, one entry per model (nodes name them alike by file)."""
    models: dict[str, dict[str, Any]] = {}
    for node in Node.available():
        for entry in node.models_available:
            if isinstance(entry, dict) and entry.get("title"):
                models.setdefault(model_key(entry["title"]), entry)
    return JsonResponse([_model_entry(models[key]) for key in sorted(models)], safe=False)


def _model_entry(entry: dict[str, Any]) -> dict[str, Any]:
    title = entry["title"]
    return {
        "title": title,
        "model_name": entry.get("model_name") or model_key(title),
        "hash": entry.get("hash"),
        "sha256": entry.get("sha256"),  # health checks keep only the short hash
        "filename": entry.get("filename") or MODEL_HASH_SUFFIX.sub("", title),
        "config": None,
    }


def _from_nodes(call: Callable[[NodeClient], Any]) -> list[Any] | None:
    """The first list a healthy node answers, or None when none does."""
    for node in Node.available():
        try:
            with _client(node) as client:
                result = call(client)
        except NodeError:
            continue
        if isinstance(result, list):
            return result
    return None


@_api("GET")
def samplers(request: HttpRequest, user: User) -> JsonResponse:
    """The samplers the nodes offer, in a node's order, with its aliases and options."""
    offered = offered_samplers()
    details = [s for s in _from_nodes(lambda c: c.samplers()) or [] if isinstance(s, dict) and s.get("name") in offered]
    known = {s["name"] for s in details}
    listed = [{"name": s["name"], "aliases": s.get("aliases") or [], "options": s.get("options") or {}} for s in details]
    listed += [{"name": name, "aliases": [], "options": {}} for name in offered if name not in known]
    return JsonResponse(listed, safe=False)


@_api("GET")
def schedulers(request: HttpRequest, user: User) -> JsonResponse:
    answer = _from_nodes(lambda c: c.schedulers())
    if answer is None:
        answer = [
            {"name": _scheduler_name(label), "label": label, "aliases": None, "default_rho": -1, "need_inner_model": False}
            for label in SCHEDULERS
        ]
    return JsonResponse(answer, safe=False)


def _upscalers() -> list[dict[str, Any]]:
    answer = _from_nodes(lambda c: c.upscalers())
    if answer is None:
        answer = [{"name": name, "model_name": None, "model_path": None, "model_url": None, "scale": 4} for name in STATIC_UPSCALERS]
    return answer


def _upscaler_names() -> set[str]:
    return {u["name"] for u in _upscalers() if isinstance(u, dict) and "name" in u}


@_api("GET")
def upscalers(request: HttpRequest, user: User) -> JsonResponse:
    return JsonResponse(_upscalers(), safe=False)


@_api("GET")
def scripts(request: HttpRequest, user: User) -> JsonResponse:
    """No selectable scripts; clients (webuiapi) look for extensions here."""
    return JsonResponse({"txt2img": [], "img2img": []})


@_api("GET", "POST")
def options(request: HttpRequest, user: User) -> JsonResponse:
    """GET: the caller's settings (the default model plus common keys). POST: only
    sd_model_checkpoint is applied, to the caller's default model; other keys are ignored."""
    models = offered_models()
    if request.method == "POST":
        body = _parse(request, _Options)
        if body.sd_model_checkpoint is not None:
            name = body.sd_model_checkpoint
            if model_key(name) not in models:
                return _error(500, "RuntimeError", f"model {name!r} not found")
            user.default_model = models[model_key(name)]
            user.save(update_fields=["default_model"])
        return JsonResponse(None, safe=False)
    title = models.get(model_key(user.default_model)) if user.default_model else None
    if title is None:
        form = GenerateForm(owner=user)  # its initial model is the one most nodes have loaded
        title = form.fields["model"].initial or next(iter(models.values()), "")
    return JsonResponse(
        {
            "sd_model_checkpoint": title,
            "sd_checkpoint_hash": None,
            "sd_vae": "Automatic",
            "CLIP_stop_at_last_layers": 1,
            "samples_format": "png",
            "eta_noise_seed_delta": 0,
            "face_restoration": False,
            "tiling": False,
            "live_previews_enable": True,
            "show_progress_every_n_steps": 10,
            "enable_pnginfo": True,
            "emphasis": "Original",
        }
    )


class _Options(_Body):
    sd_model_checkpoint: str | None = None
