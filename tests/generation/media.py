"""Images for tests without a node: small real PNG and WebP files in storage, rows made with the ORM."""

import io
from datetime import datetime

from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image as PILImage
from PIL.PngImagePlugin import PngInfo

from generation.models import Image, Job
from generation.results import thumbnail
from tests.generation.helpers import MODEL

MODEL_TITLE = f"{MODEL} [6ce0161689]"


def png_bytes(size: tuple[int, int] = (64, 64), parameters: str = "a red fox\nSteps: 10, Seed: 1") -> bytes:
    meta = PngInfo()
    meta.add_text("parameters", parameters)
    out = io.BytesIO()
    PILImage.new("RGB", size, (200, 80, 40)).save(out, format="PNG", pnginfo=meta)
    return out.getvalue()


def make_job(owner, *, prompt: str = "a red fox", model: str = MODEL_TITLE, **fields) -> Job:
    now = timezone.now()
    defaults = {"status": Job.Status.SUCCEEDED, "width": 64, "height": 64, "started_at": now, "finished_at": now}
    defaults.update(fields)
    return Job.objects.create(owner=owner, prompt=prompt, model=model, **defaults)


def make_image(
    owner,
    *,
    job: Job | None = None,
    prompt: str = "a red fox",
    model: str = MODEL_TITLE,
    size: tuple[int, int] = (64, 64),
    created_at: datetime | None = None,
    deleted_at: datetime | None = None,
    index: int = 0,
) -> Image:
    job = job or make_job(owner, prompt=prompt, model=model, width=size[0], height=size[1])
    infotext = f"{prompt}\nSteps: 10, Seed: 1234, Model: {model}"
    png = png_bytes(size, infotext)
    thumb, _ = thumbnail(png)
    image = Image(
        job=job,
        owner=owner,
        index=index,
        width=size[0],
        height=size[1],
        seed=1234,
        infotext=infotext,
        model_name=model,
        created_at=created_at or timezone.now(),
        deleted_at=deleted_at,
    )
    image.file.save("image.png", ContentFile(png), save=False)
    image.thumbnail.save("thumb.webp", ContentFile(thumb), save=False)
    image.save()
    return image
