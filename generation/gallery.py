"""The gallery's filters: prompt text, a date range and the model."""

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from generation.models import Image

PAGE_SIZE = 36


class DateInput(forms.DateInput):
    input_type = "date"


class GalleryFilter(forms.Form):
    q = forms.CharField(label=_("Prompt contains"), max_length=200, required=False)
    date_from = forms.DateField(label=_("From"), required=False, widget=DateInput)
    date_to = forms.DateField(label=_("To"), required=False, widget=DateInput)
    model = forms.ChoiceField(label=_("Model"), required=False)

    def __init__(self, *args: Any, models: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [("", _("All models"))] + [(name, name) for name in models]

    def is_filtering(self) -> bool:
        return self.is_valid() and any(self.cleaned_data.values())

    def apply(self, q: QuerySet[Image]) -> QuerySet[Image]:
        """``q`` narrowed by the valid filters; an invalid form filters nothing."""
        if not self.is_valid():
            return q
        data = self.cleaned_data
        if data["q"]:
            q = q.filter(job__prompt__icontains=data["q"])
        if data["date_from"]:
            q = q.filter(created_at__date__gte=data["date_from"])
        if data["date_to"]:
            q = q.filter(created_at__date__lte=data["date_to"])
        if data["model"]:
            q = q.filter(model_name=data["model"])
        return q


def gallery_models(owner) -> list[str]:
    """The models of the owner's gallery images, for the filter's choices."""
    q = Image.in_gallery(owner).exclude(model_name="").order_by("model_name")
    return list(q.values_list("model_name", flat=True).distinct())
