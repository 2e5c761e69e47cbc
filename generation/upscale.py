"""Upscaling a generated image: an UPSCALE job in the normal queue.

The worker (runner.py) sends the source PNG to A1111's extra-single-image
and stores the answer as a new Image of the upscale job.
"""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from cluster.models import Node
from generation.models import Image, Job
from generation.submit import enqueue

UPSCALERS = ["R-ESRGAN 4x+", "Lanczos"]
FACTORS = [2, 4]


def result_size(image: Image, factor: int) -> tuple[int, int]:
    return (image.width or image.job.width) * factor, (image.height or image.job.height) * factor


def factor_choices(image: Image) -> list[dict[str, Any]]:
    """Each factor with the size it gives and whether the owner's plan allows it (for the image page)."""
    max_pixels = image.owner.get_plan().max_pixels
    out = []
    for factor in FACTORS:
        w, h = result_size(image, factor)
        allowed = w * h <= max_pixels or image.owner.quota_exempt
        out.append({"factor": factor, "width": w, "height": h, "allowed": allowed})
    return out


class UpscaleForm(forms.Form):
    upscaler = forms.ChoiceField(label=_("Upscaler"), choices=[(name, name) for name in UPSCALERS])
    factor = forms.TypedChoiceField(label=_("Factor"), coerce=int, choices=[(f, f"{f}×") for f in FACTORS])

    def __init__(self, *args: Any, image: Image, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.image = image

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "factor" not in data:
            return data
        w, h = result_size(self.image, data["factor"])
        max_pixels = self.image.owner.get_plan().max_pixels
        if w * h > max_pixels and not self.image.owner.quota_exempt:
            raise ValidationError(
                _("Upscaled %(factor)d× this image would be %(w)d×%(h)d, larger than your plan allows (at most %(max)d pixels). Choose a smaller factor."),
                params={"factor": data["factor"], "w": w, "h": h, "max": max_pixels},
            )
        nodes = list(Node.available())
        if not nodes:
            raise ValidationError(_("No SD node is available right now. Please try again in a minute, or ask an administrator to check the nodes."))
        if not any(node.max_pixels >= w * h for node in nodes):
            raise ValidationError(
                _("%(w)d×%(h)d is larger than any node can produce (at most %(max)d pixels)."),
                params={"w": w, "h": h, "max": max(node.max_pixels for node in nodes)},
            )
        return data


def submit_upscale(image: Image, upscaler: str, factor: int) -> Job:
    """Queue an upscale of ``image``. Raises QuotaExceeded; the result counts as one image."""
    source = image.job
    w, h = result_size(image, factor)
    return enqueue(
        Job(
            owner=image.owner,
            kind=Job.Kind.UPSCALE,
            source=image,
            upscaler=upscaler,
            upscale_factor=factor,
            width=w,
            height=h,
            model=source.model,
            prompt=source.prompt,
            negative_prompt=source.negative_prompt,
            seed=image.seed if image.seed is not None else -1,
        )
    )
