from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from cluster.catalog import offered_models, offered_samplers
from cluster.models import Node, model_key
from generation.models import Image, Job
from generation.prompts import convert_braces
from generation.quotas import check_limits

# A1111's scheduler labels (modules/sd_schedulers.py); "Automatic" lets the sampler choose.
SCHEDULERS = [
    "Automatic",
    "Uniform",
    "Karras",
    "Exponential",
    "Polyexponential",
    "SGM Uniform",
    "KL Optimal",
    "Align Your Steps",
    "Simple",
    "Normal",
    "DDIM",
    "Beta",
]
MAX_SEED = 4294967295
MAX_UPLOAD_BYTES = 10 * 2**20


def _multiple_of_8(value: int) -> None:
    if value % 8:
        raise ValidationError(
            _("Must be a multiple of 8, e.g. %(lower)d or %(upper)d."),
            params={"lower": value - value % 8, "upper": value - value % 8 + 8},
        )


class GenerateForm(forms.Form):
    """The parameters of a txt2img or img2img job, checked against what the cluster offers."""

    kind = forms.ChoiceField(choices=[(Job.Kind.TXT2IMG, _("text to image")), (Job.Kind.IMG2IMG, _("image to image"))], initial=Job.Kind.TXT2IMG, required=False)
    prompt = forms.CharField(label=_("Prompt"), max_length=settings.JOB_MAX_PROMPT_LENGTH, widget=forms.Textarea(attrs={"rows": 4}))
    negative_prompt = forms.CharField(label=_("Negative prompt"), max_length=settings.JOB_MAX_PROMPT_LENGTH, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    # Checked against what the nodes report, not a fixed list: see __init__ and clean_*.
    model = forms.CharField(label=_("Model"), max_length=300, widget=forms.Select)
    sampler_name = forms.CharField(label=_("Sampler"), max_length=100, widget=forms.Select)
    scheduler = forms.ChoiceField(label=_("Schedule type"), choices=[(s, s) for s in SCHEDULERS], initial="Automatic", required=False)
    steps = forms.IntegerField(label=_("Steps"), min_value=1, max_value=settings.JOB_MAX_STEPS, initial=20)
    cfg_scale = forms.FloatField(label=_("CFG scale"), min_value=1, max_value=30, initial=7)
    width = forms.IntegerField(label=_("Width"), min_value=64, max_value=settings.JOB_MAX_SIDE, initial=512, validators=[_multiple_of_8])
    height = forms.IntegerField(label=_("Height"), min_value=64, max_value=settings.JOB_MAX_SIDE, initial=512, validators=[_multiple_of_8])
    batch_size = forms.IntegerField(label=_("Batch size"), min_value=1, max_value=8, initial=1)
    n_iter = forms.IntegerField(label=_("Batch count"), min_value=1, max_value=8, initial=1)
    seed = forms.IntegerField(label=_("Seed"), min_value=-1, max_value=MAX_SEED, initial=-1, help_text=_("-1 picks a random seed."))
    init_image = forms.ImageField(label=_("Initial image"), required=False)
    source = forms.UUIDField(required=False, widget=forms.HiddenInput)
    denoising_strength = forms.FloatField(label=_("Denoising strength"), min_value=0, max_value=1, initial=0.75, required=False)

    def __init__(self, *args: Any, owner=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner
        self.nodes = list(Node.available())
        self.models = offered_models(self.nodes)
        self.samplers = offered_samplers(self.nodes)
        self.fields["model"].widget.choices = [(title, title) for title in self.models.values()]
        self.fields["sampler_name"].widget.choices = [(name, name) for name in self.samplers]
        if "Euler a" in self.samplers:
            self.fields["sampler_name"].initial = "Euler a"
        # Suggest the model most nodes have loaded: it starts without a model switch.
        loaded = [model_key(node.model_loaded) for node in self.nodes if node.model_loaded]
        if loaded:
            self.fields["model"].initial = self.models.get(max(set(loaded), key=loaded.count))
        self.notes: list[str] = []

    def clean_model(self) -> str:
        # Any alias of a model will do (title, file name, name without hash).
        name = self.cleaned_data["model"]
        if model_key(name) not in self.models:
            raise ValidationError(
                _("Unknown model %(name)s. Available: %(models)s."),
                params={"name": name, "models": ", ".join(self.models.values()) or "–"},
            )
        return self.models[model_key(name)]

    def clean_sampler_name(self) -> str:
        # The webui would silently fall back to another sampler (reference §10.1).
        name = self.cleaned_data["sampler_name"]
        if name not in self.samplers:
            raise ValidationError(
                _("Unknown sampler %(name)s. Available: %(samplers)s."),
                params={"name": name, "samplers": ", ".join(self.samplers) or "–"},
            )
        return name

    def clean_prompt(self) -> str:
        prompt, changed = convert_braces(self.cleaned_data["prompt"])
        if changed:
            self.notes.append(str(_("NovelAI-style {braces} were converted to A1111 weights, e.g. {word} → (word:1.05).")))
        return prompt

    def clean_negative_prompt(self) -> str:
        prompt, changed = convert_braces(self.cleaned_data.get("negative_prompt", ""))
        if changed and not self.notes:
            self.notes.append(str(_("NovelAI-style {braces} were converted to A1111 weights, e.g. {word} → (word:1.05).")))
        return prompt

    def clean_init_image(self):
        image = self.cleaned_data.get("init_image")
        if image and image.size > MAX_UPLOAD_BYTES:
            raise ValidationError(_("The image is larger than %(mb)d MB."), params={"mb": MAX_UPLOAD_BYTES // 2**20})
        return image

    def clean_source(self) -> Image | None:
        code = self.cleaned_data.get("source")
        if not code:
            return None
        image = Image.objects.filter(code=code, owner=self.owner, deleted_at__isnull=True).first()
        if image is None:
            raise ValidationError(_("That image does not exist."))
        return image

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.nodes:
            raise ValidationError(_("No SD node is available right now. Please try again in a minute, or ask an administrator to check the nodes."))
        data["kind"] = data.get("kind") or Job.Kind.TXT2IMG
        images = (data.get("batch_size") or 1) * (data.get("n_iter") or 1)
        if images > settings.JOB_MAX_IMAGES:
            raise ValidationError(_("At most %(max)d images per job (batch size × batch count); you asked for %(n)d."), params={"max": settings.JOB_MAX_IMAGES, "n": images})
        if data["kind"] == Job.Kind.IMG2IMG and not (data.get("init_image") or data.get("source")):
            self.add_error("init_image", _("Image to image needs an initial image."))
        if self.owner is not None and not self.errors:
            limits = check_limits(self.owner, data["width"], data["height"], data["steps"], images)
            for field, message in limits.items():
                self.add_error(field, message)
        model, width, height = data.get("model"), data.get("width"), data.get("height")
        if model and width and height:
            serving = [node for node in self.nodes if node.has_model(model)]
            if serving and not any(node.max_pixels >= width * height for node in serving):
                biggest = max(node.max_pixels for node in serving)
                raise ValidationError(_("%(w)d×%(h)d is larger than any node can generate with this model (at most %(max)d pixels)."), params={"w": width, "h": height, "max": biggest})
        return data
