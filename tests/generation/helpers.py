from generation.forms import GenerateForm
from generation.models import Job
from generation.submit import submit_job

MODEL = "v1-5-pruned-emaonly.safetensors"


def params(**overrides) -> dict:
    data = {
        "prompt": "a lighthouse at dusk",
        "model": MODEL,
        "sampler_name": "Euler a",
        "steps": 10,
        "cfg_scale": 7,
        "width": 64,
        "height": 64,
        "batch_size": 1,
        "n_iter": 1,
        "seed": 1234,
    }
    data.update(overrides)
    return data


def submit(owner, **overrides) -> Job:
    form = GenerateForm(params(**overrides), owner=owner)
    assert form.is_valid(), form.errors
    return submit_job(owner, form.cleaned_data, notes=form.notes)
