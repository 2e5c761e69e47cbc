import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from generation.files import serve_file
from generation import trash
from generation.forms import GenerateForm
from generation.gallery import PAGE_SIZE, GalleryFilter, gallery_models
from generation.models import Image, Job
from generation.queue import job_state
from generation.quotas import QuotaExceeded, check_submission_rate, daily_images, quota_response
from generation.quotas import usage as quota_usage
from generation.submit import cancel_job, submit_job
from generation.upscale import UpscaleForm, factor_choices, submit_upscale

RECENT_JOBS = 10
# The trash page lists this many jobs and images at most, most recently deleted first.
TRASH_LIMIT = 200


def _get_job_for_user(request: HttpRequest, code) -> Job:
    """The caller's own job, or 404 (another user's job looks exactly like a missing one)."""
    return get_object_or_404(Job.objects.select_related("node"), code=code, owner=request.user, deleted_at__isnull=True)


def _get_image_for_user(request: HttpRequest, code, *, owner_only: bool = False) -> Image:
    """The image if the caller owns it, or only looks at it and is staff; otherwise 404.

    Trashed images are found too (the trash page shows them): views that
    change an image refuse those themselves.
    """
    q = Image.objects.select_related("job", "job__node", "owner")
    if owner_only or not request.user.is_staff:
        q = q.filter(owner=request.user)
    return get_object_or_404(q, code=code)


def _get_shared_image(token: str) -> Image:
    """The image behind a share link: only while shared, out of the trash and its owner active."""
    q = Image.objects.select_related("job").filter(deleted_at__isnull=True, job__deleted_at__isnull=True, owner__is_active=True)
    return get_object_or_404(q, share_token=token)


def _get_codes_for_user(request: HttpRequest, model: type[Job] | type[Image]) -> list[uuid.UUID]:
    """The posted ``codes`` that name the caller's own jobs or images; 404 when none of them does.

    Other users' codes drop out like unknown ones, so a mixed list acts on the caller's part only.
    """
    codes = trash.parse_codes(request.POST.getlist("codes"))
    owned = list(model.objects.filter(owner=request.user, code__in=codes).values_list("code", flat=True))
    if codes and not owned:
        raise Http404
    return owned


def _back(request: HttpRequest, default: str) -> HttpResponse:
    """Back to the page the form came from (``next``), if it is one of ours."""
    url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(url)
    return redirect(default)


def _purge_day(request: HttpRequest) -> str:
    """The date something deleted now would be purged, for messages."""
    return date_format(timezone.localtime(trash.purge_date(timezone.now(), request.user)), "DATE_FORMAT")


def _form_errors(form: GenerateForm) -> JsonResponse:
    fields = {name: [str(e) for e in errors] for name, errors in form.errors.items() if name != "__all__"}
    general = [str(e) for e in form.non_field_errors()]
    first_field = next(iter(fields), None)
    message = general[0] if general else f"{first_field}: {fields[first_field][0]}"
    return JsonResponse({"error": "invalid", "message": message, "field": first_field, "fields": fields}, status=400)


@login_required
@require_GET
def generate(request: HttpRequest) -> HttpResponse:
    initial = {key: value for key, value in request.GET.items() if key in GenerateForm.base_fields}
    form = GenerateForm(owner=request.user, initial=initial)
    jobs = Job.objects.filter(owner=request.user, deleted_at__isnull=True).select_related("node")[:RECENT_JOBS]
    return render(request, "generation/generate.html", {"form": form, "jobs": [job_state(job) for job in jobs]})


@login_required
@require_POST
def create_job(request: HttpRequest) -> JsonResponse:
    form = GenerateForm(request.POST, request.FILES, owner=request.user)
    if not form.is_valid():
        return _form_errors(form)
    try:
        check_submission_rate(request)
        job = submit_job(request.user, form.cleaned_data, notes=form.notes)
    except QuotaExceeded as e:
        return quota_response(e)
    job.refresh_from_db()
    return JsonResponse(job_state(job), status=201)


@login_required
@require_GET
def job_detail(request: HttpRequest, code) -> JsonResponse:
    return JsonResponse(job_state(_get_job_for_user(request, code)))


@login_required
@require_POST
def cancel(request: HttpRequest, code) -> JsonResponse:
    job = _get_job_for_user(request, code)
    if not cancel_job(job):
        return JsonResponse(
            {"error": "conflict", "message": _("This job has already ended (%(status)s).") % {"status": job.get_status_display()}},
            status=409,
        )
    job.refresh_from_db()
    return JsonResponse(job_state(job))


@login_required
@require_GET
def gallery(request: HttpRequest) -> HttpResponse:
    filters = GalleryFilter(request.GET or None, models=gallery_models(request.user))
    q = filters.apply(Image.in_gallery(request.user).select_related("job"))
    page = Paginator(q, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "generation/gallery.html", {"filters": filters, "page": page})


@login_required
@require_GET
def image(request: HttpRequest, code) -> HttpResponse:
    img = _get_image_for_user(request, code)
    ctx = {"image": img, "job": img.job, "is_owner": img.owner_id == request.user.pk, "trashed": img.is_trashed()}
    if ctx["trashed"]:
        # Whichever went to the trash first (the image, or its job) is purged first.
        ctx["purge_at"] = trash.purge_date(min(d for d in (img.deleted_at, img.job.deleted_at) if d), img.owner)
    elif ctx["is_owner"]:
        ctx["upscale_form"] = UpscaleForm(image=img)
        ctx["factors"] = factor_choices(img)
        if img.share_token:
            ctx["share_url"] = request.build_absolute_uri(reverse("generation:shared-image", args=[img.share_token]))
    return render(request, "generation/image.html", ctx)


@login_required
@require_POST
def upscale(request: HttpRequest, code) -> HttpResponse:
    img = _get_image_for_user(request, code, owner_only=True)
    if img.is_trashed():
        raise Http404
    form = UpscaleForm(request.POST, image=img)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return redirect("generation:image", img.code)
    try:
        check_submission_rate(request)
        submit_upscale(img, form.cleaned_data["upscaler"], form.cleaned_data["factor"])
    except QuotaExceeded as e:
        messages.error(request, e.message)
        return redirect("generation:image", img.code)
    messages.success(request, _("Upscale queued. It appears below when it is done, and in your gallery."))
    return redirect("generation:generate")


@login_required
@require_POST
def share(request: HttpRequest, code) -> HttpResponse:
    img = _get_image_for_user(request, code, owner_only=True)
    if img.is_trashed():
        raise Http404
    img.share()
    messages.success(request, _("Share link turned on. Anyone who has the link can see this image and its parameters."))
    return redirect("generation:image", img.code)


@login_required
@require_POST
def unshare(request: HttpRequest, code) -> HttpResponse:
    img = _get_image_for_user(request, code, owner_only=True)
    img.unshare()
    messages.success(request, _("Share link turned off. The old link no longer works."))
    return redirect("generation:image", img.code)


@require_GET
def shared_image(request: HttpRequest, token: str) -> HttpResponse:
    img = _get_shared_image(token)
    response = render(request, "generation/shared_image.html", {"image": img, "job": img.job, "token": token})
    response["X-Robots-Tag"] = "noindex"
    return response


@require_GET
def shared_image_file(request: HttpRequest, token: str) -> HttpResponse:
    img = _get_shared_image(token)
    download = f"{img.code}.png" if request.GET.get("download") else None
    return serve_file(img.file, download)


@login_required
@require_POST
def trash_images(request: HttpRequest) -> HttpResponse:
    codes = _get_codes_for_user(request, Image)
    if not codes:
        # The gallery's button without a selection (no JS to disable it).
        messages.info(request, _("Select one or more images first."))
        return _back(request, "generation:gallery")
    n = trash.trash_images(request.user, codes)
    if not n:  # already there, e.g. a double click
        return _back(request, "generation:gallery")
    text = ngettext(
        "Moved %(n)d image to the trash. You can restore it there until %(date)s.",
        "Moved %(n)d images to the trash. You can restore them there until %(date)s.",
        n,
    )
    messages.success(request, text % {"n": n, "date": _purge_day(request)})
    return _back(request, "generation:gallery")


@login_required
@require_POST
def trash_jobs(request: HttpRequest) -> HttpResponse:
    n = trash.trash_jobs(request.user, _get_codes_for_user(request, Job))
    if not n:
        return _back(request, "generation:generate")
    text = ngettext(
        "Moved %(n)d job and its images to the trash. You can restore it there until %(date)s.",
        "Moved %(n)d jobs and their images to the trash. You can restore them there until %(date)s.",
        n,
    )
    messages.success(request, text % {"n": n, "date": _purge_day(request)})
    return _back(request, "generation:generate")


@login_required
@require_POST
def restore_images(request: HttpRequest) -> HttpResponse:
    n = trash.restore_images(request.user, _get_codes_for_user(request, Image))
    if n:
        messages.success(request, ngettext("Restored %(n)d image.", "Restored %(n)d images.", n) % {"n": n})
    return _back(request, "generation:trash")


@login_required
@require_POST
def restore_jobs(request: HttpRequest) -> HttpResponse:
    n = trash.restore_jobs(request.user, _get_codes_for_user(request, Job))
    if n:
        messages.success(request, ngettext("Restored %(n)d job.", "Restored %(n)d jobs.", n) % {"n": n})
    return _back(request, "generation:trash")


@login_required
@require_GET
def show_trash(request: HttpRequest) -> HttpResponse:
    """Trashed jobs (with all their images) and trashed images of jobs that are not trashed."""
    retention = trash.retention(request.user)
    jobs_q = Job.objects.filter(owner=request.user, deleted_at__isnull=False)
    images_q = Image.objects.filter(owner=request.user, deleted_at__isnull=False, job__deleted_at__isnull=True)
    jobs = list(jobs_q.order_by("-deleted_at").prefetch_related(Prefetch("images", Image.objects.order_by("index")))[:TRASH_LIMIT])
    images = list(images_q.select_related("job").order_by("-deleted_at")[:TRASH_LIMIT])
    for obj in [*jobs, *images]:
        obj.purge_at = obj.deleted_at + retention
    ctx = {
        "jobs": jobs,
        "images": images,
        "jobs_total": jobs_q.count() if len(jobs) == TRASH_LIMIT else len(jobs),
        "images_total": images_q.count() if len(images) == TRASH_LIMIT else len(images),
        "retention_days": retention.days,
    }
    return render(request, "generation/trash.html", ctx)


@login_required
@require_GET
def image_file(request: HttpRequest, code) -> HttpResponse:
    img = _get_image_for_user(request, code)
    download = f"{img.code}.png" if request.GET.get("download") else None
    return serve_file(img.file, download)


@login_required
@require_GET
def image_thumbnail(request: HttpRequest, code) -> HttpResponse:
    img = _get_image_for_user(request, code)
    if not img.thumbnail:
        raise PermissionDenied
    return serve_file(img.thumbnail)


@login_required
@require_GET
def usage(request: HttpRequest) -> HttpResponse:
    days = daily_images(request.user)
    peak = max((n for _, n in days), default=0)
    context = {
        "usage": quota_usage(request.user),
        "days": [{"day": day, "images": n, "percent": round(100 * n / peak) if peak else 0} for day, n in days],
    }
    return render(request, "generation/usage.html", context)
