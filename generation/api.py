"""The JSON API ``/api/v1/``, with its OpenAPI schema at ``/api/v1/openapi.json``.

Every operation has HC's shape: authentication (an API token), then schema
validation (pydantic, then GenerateForm, so the site and the API accept the
same jobs), then a model or service call, and on failure one error body::

    {"error": "<code>", "message": "<human text>", "field": "<name>" | null}

400 invalid (every validation error, schema or form), 401 unauthorized,
403 forbidden, 404 not_found (another user's object looks exactly like a
missing one), 409 conflict, 413 too_large, 429 quota / concurrency /
rate_limited with Retry-After when the time is known.
"""

import base64
import binascii
import functools
import mimetypes
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Field, NinjaAPI, Query, Router, Schema, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBasicAuth, HttpBearer

from accounts.auth import authenticate_request
from cluster.catalog import offered_models, offered_samplers
from cluster.models import Node
from generation.files import serve_file
from generation import trash, webhooks
from generation.forms import SCHEDULERS, GenerateForm
from generation.models import Image, Job
from generation.queue import job_state
from generation.quotas import WINDOW, QuotaExceeded, check_submission_rate, usage
from generation.submit import cancel_job, submit_job

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

DESCRIPTION = """
Generate images on the sdplatform cluster.

**Authentication.** Every operation needs an API token (create one on your account page):
`Authorization: Bearer <token>`, or HTTP Basic with your username and the token as password.

**Errors** always have the body `{"error": code, "message": text, "field": name or null}`.
Validation errors are **400** with `error: "invalid"` and `field` naming the first bad parameter.
401 unauthorized, 403 forbidden, 404 not_found (also for other users' objects), 409 conflict,
413 too_large, 429 `quota`, `concurrency` or `rate_limited` with a `Retry-After` header when known.

**Lists** are newest first and paginated with `limit` (at most 100) and `offset`;
`next` and `previous` are the URLs of the neighbouring pages, or null.

**Callbacks.** A job created with `callback_url` is POSTed to that URL when it ends
(succeeded, failed, cancelled or expired): the job's state plus `event` and `timestamp`
(fetch the images with GET /images/{code}/file).
`X-Sdplatform-Signature: sha256=<hex>` is the HMAC-SHA256 of the raw body with your webhook secret;
`X-Sdplatform-Delivery` stays the same on retries (up to 5 attempts, with back-off).
Callbacks go only to public addresses.
"""


# --- Authentication -----------------------------------------------------------


def _token_user(request: HttpRequest, scheme: str):
    if request.headers.get("Authorization", "").split(" ", 1)[0].lower() != scheme:
        return None
    user = authenticate_request(request)
    if user is not None:
        # Rate limits and quota helpers read request.user; the API has no session.
        request.user = user
    return user


class BearerToken(HttpBearer):
    """``Authorization: Bearer <API token>``."""

    def __call__(self, request: HttpRequest):
        return _token_user(request, "bearer")

    def authenticate(self, request: HttpRequest, token: str):
        raise NotImplementedError  # __call__ does the work, for both schemes alike


class BasicToken(HttpBasicAuth):
    """HTTP Basic with the username and an API token as password (as A1111 clients send it)."""

    def __call__(self, request: HttpRequest):
        return _token_user(request, "basic")

    def authenticate(self, request: HttpRequest, username: str, password: str):
        raise NotImplementedError


class Api(NinjaAPI):
    """ninja's NinjaAPI, with 405 answers in the API's error body too (ninja writes them as plain text)."""

    @property
    def urls(self):
        patterns, app_name, namespace = super().urls
        for pattern in patterns:
            pattern.callback = _json_not_allowed(pattern.callback)
        return patterns, app_name, namespace


def _json_not_allowed(view):
    @functools.wraps(view)  # keeps csrf_exempt
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            message = _("%(method)s is not allowed here. Allowed: %(allowed)s.") % {"method": request.method, "allowed": response["Allow"]}
            allow, response = response["Allow"], _error(request, 405, "method_not_allowed", message)
            response["Allow"] = allow
        return response

    return wrapper


api = Api(
    urls_namespace="api",
    version="1",
    title="sdplatform API",
    description=DESCRIPTION,
    docs_url="/docs",
    auth=[BearerToken(), BasicToken()],
)


# --- Errors -------------------------------------------------------------------


class Error(Schema):
    error: str = Field(description="invalid, unauthorized, forbidden, not_found, conflict, too_large, quota, concurrency or rate_limited")
    message: str
    field: str | None = Field(description="The parameter at fault, for validation errors")


class ApiError(HttpError):
    """A refusal with the API's error body; raise it from an operation."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(status, message)
        self.code = code
        self.field = field


CODES = {400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 409: "conflict", 413: "too_large", 429: "rate_limited"}


def _error(request: HttpRequest, status: int, code: str, message: str, field: str | None = None) -> HttpResponse:
    return api.create_response(request, {"error": code, "message": str(message), "field": field}, status=status)


def _responses(ok: dict[int, Any], *errors: int) -> dict[int, Any]:
    """Response schemas of an operation: its success and the errors it may answer (401 always)."""
    return {**ok, **{status: Error for status in sorted({401, *errors})}}


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return _error(request, exc.status_code, exc.code, exc.message, exc.field)


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    r = _error(request, 401, "unauthorized", _("Send a valid API token: Authorization: Bearer <token>."))
    r["WWW-Authenticate"] = 'Bearer realm="api"'
    return r


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, CODES.get(exc.status_code, "error"), exc.message)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "not_found", _("Not found."))


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """Schema errors name the first bad parameter; a malformed object code in the path is just not found."""
    first = exc.errors[0] if exc.errors else {}
    loc = [str(part) for part in first.get("loc", ())]
    if loc[:1] == ["path"]:
        return _not_found(request, Http404())
    # loc is (source, [parameter name,] field, ...): the body's parameter name means nothing to a client.
    path = loc[2:] if loc[:2] == ["body", "payload"] else loc[1:]
    field = ".".join(path) or None
    return _error(request, 400, "invalid", first.get("msg") or _("Invalid request."), field)


@api.exception_handler(QuotaExceeded)
def _quota(request: HttpRequest, exc: QuotaExceeded) -> HttpResponse:
    r = _error(request, 429, exc.code, exc.message)
    if exc.retry_after_seconds():
        r["Retry-After"] = str(exc.retry_after_seconds())
    return r


@api.exception_handler(RequestDataTooBig)
def _too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
    return _error(request, 413, "too_large", _("The request body is larger than %(mb).1f MB.") % {"mb": limit / 2**20})


def _form_error(form: GenerateForm) -> ApiError:
    """The first of the form's errors, as the API's error (the form checks fields in order, then across them)."""
    name, errors = next(iter(form.errors.items()))
    return ApiError(400, "invalid", errors[0], None if name == "__all__" else name)


# --- Schemas ------------------------------------------------------------------

JobStatus = Literal[tuple(Job.Status.values)]  # type: ignore[valid-type]
JobKind = Literal[tuple(Job.Kind.values)]  # type: ignore[valid-type]


class JobIn(Schema):
    kind: Literal["txt2img", "img2img"] = "txt2img"
    prompt: str
    negative_prompt: str = ""
    model: str = Field(description="A model's title, file name or name, from GET /models")
    sampler_name: str = Field(description="From GET /samplers")
    scheduler: str = Field("Automatic", description="From GET /schedulers")
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = Field(512, description="A multiple of 8")
    height: int = Field(512, description="A multiple of 8")
    batch_size: int = 1
    n_iter: int = 1
    seed: int = Field(-1, description="-1 picks a random seed")
    denoising_strength: float = Field(0.75, description="img2img: how much of the initial image to change, 0 to 1")
    init_image: str | None = Field(None, description="img2img: the initial image in base64 (a data: URI is fine)")
    source: uuid.UUID | None = Field(None, description="img2img: the code of one of your images, as the initial image")
    callback_url: str | None = Field(None, max_length=500, description="POSTed the job's state when it ends (public http or https URL)")

    def form_data(self) -> dict[str, Any]:
        data = self.model_dump(exclude={"init_image", "callback_url"}, exclude_none=True)
        if self.source:
            data["source"] = str(self.source)
        return data

    def form_files(self) -> dict[str, SimpleUploadedFile]:
        if not self.init_image:
            return {}
        value = self.init_image
        content_type = "image/png"
        if value.startswith("data:"):
            header, _sep, value = value.partition(",")
            content_type = header[5:].split(";", 1)[0] or content_type
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "invalid", _("The initial image is not valid base64."), "init_image") from None
        name = "init" + (mimetypes.guess_extension(content_type) or ".png")
        return {"init_image": SimpleUploadedFile(name, data, content_type)}


class ImageOut(Schema):
    image: str = Field(description="The image's code")
    job: str
    index: int
    url: str = Field(description="The PNG, with A1111's parameters text; needs the token")
    thumbnail_url: str | None
    page_url: str = Field(description="The image's page on the website")
    seed: int | None
    width: int
    height: int
    model: str
    infotext: str
    created_at: datetime
    deleted_at: datetime | None = Field(description="When it went to the trash, by itself or with its job")
    purge_at: datetime | None = Field(description="When the trash is emptied of it")


class JobOut(Schema):
    job: str = Field(description="The job's code")
    status: JobStatus
    status_label: str
    kind: JobKind
    progress: float = Field(description="0 to 1")
    step: int
    eta_seconds: float | None = Field(description="Seconds until it should finish (queued or running)")
    queue_position: int | None = Field(None, description="1 for the next job to go; null unless queued")
    node: str | None
    attempts: int
    error: str
    notes: list[str] = Field(description="What the platform changed in the request")
    prompt: str
    negative_prompt: str
    model: str
    sampler_name: str
    scheduler: str
    steps: int
    cfg_scale: float
    seed: int
    width: int
    height: int
    batch_size: int
    n_iter: int
    denoising_strength: float | None
    source: str | None
    images_requested: int
    callback_url: str | None
    created_at: datetime
    finished_at: datetime | None
    deleted_at: datetime | None
    purge_at: datetime | None
    images: list[ImageOut]


class Page(Schema):
    count: int
    next: str | None
    previous: str | None


class JobPage(Page):
    items: list[JobOut]


class ImagePage(Page):
    items: list[ImageOut]


class PlanOut(Schema):
    name: str
    images_per_day: int
    max_concurrent_jobs: int
    max_pixels: int
    max_steps: int
    max_images_per_job: int
    retention_days: int


class UsageOut(Schema):
    plan: PlanOut
    quota_exempt: bool
    window_hours: int
    images_used: int = Field(description="Images counted in the last window_hours (failed, cancelled and expired jobs do not count)")
    images_left: int
    next_free_at: datetime | None = Field(description="When the oldest counted images leave the window")
    jobs_in_flight: int = Field(description="Jobs queued or running")


class ModelOut(Schema):
    name: str
    title: str


class NodeOut(Schema):
    code: uuid.UUID
    name: str
    url: str
    state: str
    available: bool = Field(description="Takes new jobs: enabled, healthy and not draining")
    enabled: bool
    draining: bool
    capacity: int
    busy: bool
    progress: float
    jobs_running: int
    model_loaded: str
    models: list[str]
    samplers: list[str]
    max_pixels: int
    failures: int
    last_error: str
    last_check_at: datetime | None
    last_ok_at: datetime | None
    latency_ms: int | None
    vram_used: int | None
    vram_total: int | None
    version: str
    images_done: int


# --- Helpers ------------------------------------------------------------------


def _get_job_for_user(request: HttpRequest, code: uuid.UUID) -> Job:
    """The caller's own job, in the trash or not, or 404."""
    return get_object_or_404(Job.objects.select_related("node", "source"), code=code, owner=request.auth)


def _get_image_for_user(request: HttpRequest, code: uuid.UUID) -> Image:
    """The caller's own image, in the trash or not, or 404."""
    return get_object_or_404(Image.objects.select_related("job"), code=code, owner=request.auth)


def _retention(request: HttpRequest) -> timedelta:
    if not hasattr(request, "_retention"):
        request._retention = trash.retention(request.auth)  # type: ignore[attr-defined]
    return request._retention  # type: ignore[attr-defined]


def _live_images() -> Prefetch:
    return Prefetch("images", Image.objects.filter(deleted_at__isnull=True).order_by("index"), to_attr="live_images")


def _image_out(request: HttpRequest, image: Image) -> dict[str, Any]:
    trashed = [d for d in (image.deleted_at, image.job.deleted_at) if d]
    deleted_at = min(trashed) if trashed else None
    return {
        "image": str(image.code),
        "job": str(image.job.code),
        "index": image.index,
        "url": request.build_absolute_uri(reverse("api:image-file", args=[image.code])),
        "thumbnail_url": request.build_absolute_uri(reverse("api:image-thumbnail", args=[image.code])) if image.thumbnail else None,
        "page_url": request.build_absolute_uri(reverse("generation:image", args=[image.code])),
        "seed": image.seed,
        "width": image.width,
        "height": image.height,
        "model": image.model_name,
        "infotext": image.infotext,
        "created_at": image.created_at,
        "deleted_at": deleted_at,
        "purge_at": deleted_at + _retention(request) if deleted_at else None,
    }


def _job_out(request: HttpRequest, job: Job, images: list[Image] | None = None) -> dict[str, Any]:
    """``job_state`` (what pages and websockets show), with the full request and API image URLs."""
    if images is None:
        images = list(job.images.filter(deleted_at__isnull=True).order_by("index"))
    for image in images:
        image.job = job
    state = job_state(job, images=[])
    state.update(
        prompt=job.prompt,
        negative_prompt=job.negative_prompt,
        sampler_name=job.sampler_name,
        scheduler=job.scheduler,
        cfg_scale=job.cfg_scale,
        seed=job.seed,
        batch_size=job.batch_size,
        n_iter=job.n_iter,
        denoising_strength=job.denoising_strength,
        source=str(job.source.code) if job.source_id and job.source else None,
        callback_url=job.callback_url or None,
        deleted_at=job.deleted_at,
        purge_at=job.deleted_at + _retention(request) if job.deleted_at else None,
        images=[_image_out(request, image) for image in images],
    )
    return state


# Observed state and settings, never the node's credentials.
NODE_FIELDS = ["code", "name", "url", "state", "enabled", "draining", "capacity", "busy", "progress", "jobs_running", "model_loaded", "samplers", "max_pixels", "failures", "last_error", "last_check_at", "last_ok_at", "latency_ms", "vram_used", "vram_total", "version", "images_done"]


def _node_out(node: Node) -> dict[str, Any]:
    return {**{name: getattr(node, name) for name in NODE_FIELDS}, "available": node.is_available(), "models": node.model_titles()}


def _page(request: HttpRequest, q: QuerySet, limit: int, offset: int) -> tuple[list, dict[str, Any]]:
    """One page of ``q`` and the envelope: count and the URLs of the pages before and after."""
    count = q.count()
    items = list(q[offset : offset + limit])

    def url(at: int) -> str:
        params = request.GET.copy()
        params["offset"], params["limit"] = str(at), str(limit)
        return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")

    envelope = {
        "count": count,
        "next": url(offset + limit) if offset + limit < count else None,
        "previous": url(max(0, offset - limit)) if offset > 0 else None,
    }
    return items, envelope


def _file_responses(media_type: str) -> dict[str, Any]:
    return {"responses": {"200": {"description": "The file", "content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}}}


Limit = Query(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description=f"Items per page, at most {MAX_PAGE_SIZE}")
Offset = Query(0, ge=0, le=10**9)


# --- Jobs ---------------------------------------------------------------------

jobs = Router(tags=["jobs"])


@jobs.post("/jobs", response=_responses({201: JobOut}, 400, 413, 429), url_name="create-job", summary="Submit a job")
def create_job(request: HttpRequest, payload: JobIn):
    """Queue a txt2img or img2img job. Parameters are checked against the cluster and your plan."""
    form = GenerateForm(payload.form_data(), payload.form_files(), owner=request.auth)
    if not form.is_valid():
        raise _form_error(form)
    if payload.callback_url:
        try:
            webhooks.resolve(payload.callback_url)
        except webhooks.UnsafeURL as e:
            raise ApiError(400, "invalid", e.message, "callback_url") from None
    check_submission_rate(request)
    job = submit_job(request.auth, {**form.cleaned_data, "callback_url": payload.callback_url}, notes=form.notes)
    job.refresh_from_db()
    return Status(201, _job_out(request, job, images=[]))


@jobs.get("/jobs", response=_responses({200: JobPage}, 400), url_name="jobs", summary="List your jobs")
def list_jobs(request: HttpRequest, status: JobStatus | None = None, trashed: bool = False, limit: int = Limit, offset: int = Offset):
    """Newest first. ``trashed=true`` lists the trash instead."""
    q = Job.objects.filter(owner=request.auth, deleted_at__isnull=not trashed)
    if status:
        q = q.filter(status=status)
    q = q.select_related("node", "source").prefetch_related(_live_images()).order_by("-created_at", "-pk")
    items, envelope = _page(request, q, limit, offset)
    return {**envelope, "items": [_job_out(request, job, job.live_images) for job in items]}


@jobs.get("/jobs/{code}", response=_responses({200: JobOut}, 404), url_name="job", summary="Get a job")
def get_job(request: HttpRequest, code: uuid.UUID):
    """Status, progress, queue position, ETA and images."""
    return _job_out(request, _get_job_for_user(request, code))


@jobs.post("/jobs/{code}/cancel", response=_responses({200: JobOut}, 404, 409), url_name="cancel-job", summary="Cancel a job")
def cancel(request: HttpRequest, code: uuid.UUID):
    """A queued job ends at once; a running one is interrupted on its node. 409 once it has ended."""
    job = _get_job_for_user(request, code)
    if not cancel_job(job):
        raise ApiError(409, "conflict", _("This job has already ended (%(status)s).") % {"status": job.get_status_display()})
    job.refresh_from_db()
    return _job_out(request, job)


@jobs.delete("/jobs/{code}", response=_responses({200: JobOut}, 404, 409), url_name="trash-job", summary="Move a job to the trash")
def trash_job(request: HttpRequest, code: uuid.UUID):
    """The job and its images stay restorable until ``purge_at``. A job still queued or running is cancelled."""
    job = _get_job_for_user(request, code)
    if job.deleted_at or not trash.trash_jobs(request.auth, [job.code]):
        raise ApiError(409, "conflict", _("This job is already in the trash."))
    job.refresh_from_db()
    return _job_out(request, job)


@jobs.post("/jobs/{code}/restore", response=_responses({200: JobOut}, 404, 409), url_name="restore-job", summary="Restore a job from the trash")
def restore_job(request: HttpRequest, code: uuid.UUID):
    job = _get_job_for_user(request, code)
    if not job.deleted_at or not trash.restore_jobs(request.auth, [job.code]):
        raise ApiError(409, "conflict", _("This job is not in the trash."))
    job.refresh_from_db()
    return _job_out(request, job)


# --- Images -------------------------------------------------------------------

images = Router(tags=["images"])


@images.get("/images", response=_responses({200: ImagePage}, 400), url_name="images", summary="List your images")
def list_images(request: HttpRequest, job: uuid.UUID | None = None, trashed: bool = False, limit: int = Limit, offset: int = Offset):
    """Newest first: the gallery, or with ``trashed=true`` the images in the trash (by themselves or with their job)."""
    if trashed:
        q = Image.objects.filter(owner=request.auth).filter(Q(deleted_at__isnull=False) | Q(job__deleted_at__isnull=False))
    else:
        q = Image.in_gallery(request.auth)
    if job:
        q = q.filter(job__code=job)
    items, envelope = _page(request, q.select_related("job").order_by("-created_at", "index", "-pk"), limit, offset)
    return {**envelope, "items": [_image_out(request, image) for image in items]}


@images.get("/images/{code}", response=_responses({200: ImageOut}, 404), url_name="image", summary="Get an image")
def get_image(request: HttpRequest, code: uuid.UUID):
    return _image_out(request, _get_image_for_user(request, code))


@images.get("/images/{code}/file", response=_responses({}, 404), url_name="image-file", summary="Download an image", openapi_extra=_file_responses("image/png"))
def image_file(request: HttpRequest, code: uuid.UUID, download: bool = False):
    """The PNG with A1111's ``parameters`` text. ``download=true`` asks the browser to save it."""
    image = _get_image_for_user(request, code)
    return serve_file(image.file, f"{image.code}.png" if download else None)


@images.get("/images/{code}/thumbnail", response=_responses({}, 404), url_name="image-thumbnail", summary="Download an image's thumbnail", openapi_extra=_file_responses("image/webp"))
def image_thumbnail(request: HttpRequest, code: uuid.UUID):
    image = _get_image_for_user(request, code)
    if not image.thumbnail:
        raise Http404
    return serve_file(image.thumbnail)


@images.delete("/images/{code}", response=_responses({200: ImageOut}, 404, 409), url_name="trash-image", summary="Move an image to the trash")
def trash_image(request: HttpRequest, code: uuid.UUID):
    image = _get_image_for_user(request, code)
    if image.is_trashed() or not trash.trash_images(request.auth, [image.code]):
        raise ApiError(409, "conflict", _("This image is already in the trash."))
    image.refresh_from_db()
    return _image_out(request, image)


@images.post("/images/{code}/restore", response=_responses({200: ImageOut}, 404, 409), url_name="restore-image", summary="Restore an image from the trash")
def restore_image(request: HttpRequest, code: uuid.UUID):
    """Restores the image's job too when the job is in the trash."""
    image = _get_image_for_user(request, code)
    if not image.is_trashed() or not trash.restore_images(request.auth, [image.code]):
        raise ApiError(409, "conflict", _("This image is not in the trash."))
    image = _get_image_for_user(request, code)
    return _image_out(request, image)


# --- Account and cluster ------------------------------------------------------

account = Router(tags=["account"])


@account.get("/usage", response=_responses({200: UsageOut}), url_name="usage", summary="Your usage and limits")
def get_usage(request: HttpRequest):
    u = usage(request.auth)
    return {
        "plan": u.plan,
        "quota_exempt": request.auth.quota_exempt,
        "window_hours": int(WINDOW.total_seconds() // 3600),
        "images_used": u.images_used,
        "images_left": u.images_left,
        "next_free_at": u.next_free_at,
        "jobs_in_flight": u.jobs_in_flight,
    }


catalog = Router(tags=["catalog"])


@catalog.get("/models", response=_responses({200: list[ModelOut]}), url_name="models", summary="Models on the cluster")
def list_models(request: HttpRequest):
    """The models of the nodes that take jobs now. Any of ``name`` or ``title`` works as a job's ``model``."""
    return [{"name": name, "title": title} for name, title in offered_models().items()]


@catalog.get("/samplers", response=_responses({200: list[str]}), url_name="samplers", summary="Samplers on the cluster")
def list_samplers(request: HttpRequest):
    return offered_samplers()


@catalog.get("/schedulers", response=_responses({200: list[str]}), url_name="schedulers", summary="Schedule types")
def list_schedulers(request: HttpRequest):
    return SCHEDULERS


nodes = Router(tags=["nodes"])


@nodes.get("/nodes", response=_responses({200: list[NodeOut]}, 403), url_name="nodes", summary="The nodes and their state (staff)")
def list_nodes(request: HttpRequest):
    if not request.auth.is_staff:
        raise ApiError(403, "forbidden", _("Only staff may see the nodes."))
    q = Node.objects.annotate(jobs_running=Count("jobs", filter=Q(jobs__status__in=Job.IN_FLIGHT))).order_by("name")
    return [_node_out(node) for node in q]


# Last, so it matches only what no operation does: unknown paths get the API's 404 too.
fallback = Router()


@fallback.api_operation(["GET", "POST", "PUT", "PATCH", "DELETE"], "/{path:rest}", auth=None, include_in_schema=False)
def unknown(request: HttpRequest, rest: str):
    raise Http404


for router in (jobs, images, account, catalog, nodes, fallback):
    api.add_router("", router)
