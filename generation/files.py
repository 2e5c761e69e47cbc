"""Serving private files: only after the caller's access was checked."""

from django.conf import settings
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpResponse
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _


def serve_file(field: FieldFile, download_name: str | None = None) -> HttpResponse:
    """A private file: through nginx's internal location in production, from storage otherwise."""
    if settings.MEDIA_ACCEL_REDIRECT:
        # nginx sends the file from its internal /protected-media/ location,
        # keeping the headers set here.
        response = HttpResponse()
        response["X-Accel-Redirect"] = f"/protected-media/{field.name}"
        response["Content-Type"] = ""
        if download_name:
            response["Content-Disposition"] = content_disposition_header(True, download_name)
    else:
        try:
            response = FileResponse(field.open("rb"), as_attachment=bool(download_name), filename=download_name or "")
        except FileNotFoundError:
            raise Http404(_("The file is missing from storage.")) from None
    # Private files: browsers may keep them, shared caches may not.
    patch_cache_control(response, private=True)
    return response
