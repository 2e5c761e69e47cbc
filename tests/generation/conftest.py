import pytest

FAST_JOBS = {
    "JOB_PROGRESS_POLL_SECONDS": 0.05,
    "JOB_STALL_SECONDS": 2,
    "JOB_LEASE_SECONDS": 30,
    "NODE_CHECK_TIMEOUT": 2.0,
}


@pytest.fixture(autouse=True)
def _fast_jobs(settings, tmp_path):
    for name, value in FAST_JOBS.items():
        setattr(settings, name, value)
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture(autouse=True)
def _roomy_default_plan(db):
    """Generation tests queue many jobs; quota tests set their own plans."""
    from accounts.models import Plan

    Plan.objects.all().delete()
    return Plan.objects.create(
        name="Roomy",
        is_default=True,
        images_per_day=10_000,
        max_concurrent_jobs=100,
        max_pixels=2048 * 2048,
        max_steps=150,
        max_images_per_job=8,
    )
