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


def registered_node(name: str = "gpu1", **fields):
    """A healthy node row with the simulator's models, for tests that never reach the node."""
    from cluster.models import Node

    defaults = {
        "url": "http://127.0.0.1:9",
        "state": Node.State.HEALTHY,
        "models_available": [
            {"title": f"{MODEL} [6ce0161689]", "model_name": "v1-5-pruned-emaonly", "hash": "6ce0161689", "filename": MODEL},
            {"title": "sd_xl_base_1.0.safetensors [31e35c80fc]", "model_name": "sd_xl_base_1.0", "hash": "31e35c80fc", "filename": "sd_xl_base_1.0.safetensors"},
        ],
        "samplers": ["Euler a", "Euler", "DPM++ 2M"],
    }
    defaults.update(fields)
    return Node.objects.create(name=name, **defaults)
