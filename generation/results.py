"""Turn a node's answer into files in storage and Image rows (never base64 in the database)."""

import base64
import binascii
import io
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from generation.models import Image, Job

THUMBNAIL_SIZE = (384, 384)


class BadImage(Exception):
    """The node sent something that is not an image."""


def decode_image(data: str) -> bytes:
    if data.startswith("data:"):
        data = data.split(",", 1)[-1]
    try:
        raw = base64.b64decode(data, validate=False)
        with PILImage.open(io.BytesIO(raw)) as img:
            img.verify()
    except (binascii.Error, ValueError, OSError, SyntaxError) as e:  # PIL reports a broken PNG as SyntaxError
        raise BadImage(str(e)) from None
    return raw


def as_png(raw: bytes, infotext: str) -> bytes:
    """Keep a PNG as the node made it (its ``parameters`` chunk intact); convert others to PNG."""
    if raw.startswith(b"\x89PNG"):
        return raw
    from PIL.PngImagePlugin import PngInfo

    meta = PngInfo()
    if infotext:
        meta.add_text("parameters", infotext)
    out = io.BytesIO()
    with PILImage.open(io.BytesIO(raw)) as img:
        img.save(out, format="PNG", pnginfo=meta)
    return out.getvalue()


def thumbnail(raw: bytes) -> tuple[bytes, tuple[int, int]]:
    """A small WebP of the image, and the full image's size."""
    out = io.BytesIO()
    with PILImage.open(io.BytesIO(raw)) as img:
        size = img.size
        small = img.convert("RGB")
        small.thumbnail(THUMBNAIL_SIZE)
        small.save(out, format="WEBP", quality=80)
    return out.getvalue(), size


def generated_images(job: Job, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The images of a txt2img/img2img answer with their seeds and infotexts.

    A1111 may put a grid first (``index_of_first_image``) and extensions may
    append extra images (reference §2): keep exactly the generated ones.
    """
    info = result["info"]
    images = result["images"]
    first = int(info.get("index_of_first_image") or 0)
    seeds = info.get("all_seeds") or []
    infotexts = info.get("infotexts") or []
    wanted = job.batch_size * job.n_iter
    out = []
    for i, data in enumerate(images[first : first + wanted]):
        out.append(
            {
                "data": data,
                "seed": seeds[i] if i < len(seeds) else info.get("seed"),
                "infotext": infotexts[first + i] if first + i < len(infotexts) else "",
            }
        )
    return out


def store_images(job: Job, items: list[dict[str, Any]], model_name: str) -> list[Image]:
    """Write the files and build (unsaved) Image rows; the caller saves them with the job's state change."""
    images: list[Image] = []
    try:
        for index, item in enumerate(items):
            images.append(_store_image(job, index, item, model_name))
    except Exception:
        delete_files(images)  # no orphan files from a half-stored answer
        raise
    return images


def _store_image(job: Job, index: int, item: dict[str, Any], model_name: str) -> Image:
    png = as_png(decode_image(item["data"]), item.get("infotext", ""))
    thumb, (width, height) = thumbnail(png)
    image = Image(
        job=job,
        owner_id=job.owner_id,
        index=index,
        seed=item.get("seed"),
        infotext=item.get("infotext", ""),
        model_name=model_name,
        width=width,
        height=height,
    )
    image.file.save("image.png", ContentFile(png), save=False)
    image.thumbnail.save("thumb.webp", ContentFile(thumb), save=False)
    return image


def delete_files(images: list[Image]) -> None:
    for image in images:
        for field in (image.file, image.thumbnail):
            if field.name:
                default_storage.delete(field.name)


def encode_file(field) -> str:
    field.open("rb")
    try:
        return base64.b64encode(field.read()).decode()
    finally:
        field.close()
