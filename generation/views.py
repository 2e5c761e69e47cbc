from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from generation.forms import GenerateForm
from generation.models import Image, Job
from generation.queue import job_state
from generation.quotas import QuotaExceeded, check_submission_rate, quota_response
from generation.submit import cancel_job, submit_job

RECENT_JOBS = 10


def _get_job_for_user(request: HttpRequest, code) -> Job:
    """The caller's own job, or 404 (another user's job looks exactly like a missing one)."""
    return get_object_or_404(Job.objects.select_related("node"), code=code, owner=request.user, deleted_at__isnull=True)


def _get_image_for_user(request: HttpRequest, code) -> Image:
    q = Image.objects.select_related("job", "job__node")
    if not request.user.is_staff:
        q = q.filter(owner=request.user)
    return get_object_or_404(q, code=code)


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
def image(request: HttpRequest, code) -> HttpResponse:
    img = _get_image_for_user(request, code)
    return render(request, "generation/image.html", {"image": img, "job": img.job})


def _serve(field, download_name: str | None = None) -> HttpResponse:
    if settings.MEDIA_ACCEL_REDIRECT:
        # nginx sends the file from its internal /protected-media/ location.
        response = HttpResponse()
        response["X-Accel-Redirect"] = f"/protected-media/{field.name}"
        response["Content-Type"] = ""
        return response
    try:
        return FileResponse(field.open("rb"), as_attachment=bool(download_name), filename=download_name or "")
    except FileNotFoundError:
        raise Http404(_("The file is missing from storage.")) from None


@login_required
@require_GET
def image_file(request: HttpRequest, code) -> HttpResponse:
    img = _get_image_for_user(request, code)
    download = f"{img.code}.png" if request.GET.get("download") else None
    return _serve(img.file, download)


@login_required
@require_GET
def image_thumbnail(request: HttpRequest, code) -> HttpResponse:
    img = _get_image_for_user(request, code)
    if not img.thumbnail:
        raise PermissionDenied
    return _serve(img.thumbnail)
