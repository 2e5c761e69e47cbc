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
