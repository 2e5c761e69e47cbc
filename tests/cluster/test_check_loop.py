import pytest

from cluster import tasks
from cluster.models import Node
from cluster.signals import nodes_checked

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_checks_every_few_seconds_for_about_a_minute_and_signals_each_pass(sdnodes, settings, monkeypatch):
    [sim] = sdnodes(1)
    Node.objects.create(name="gpu1", url=sim.url)
    settings.NODE_CHECK_SECONDS = 0.3
    settings.NODE_CHECK_TIMEOUT = 0.2
    monkeypatch.setattr(tasks, "LOOP_SECONDS", 1.5)
    beats = []

    def receiver(sender, **kwargs):
        beats.append(sender)

    nodes_checked.connect(receiver)
    try:
        passes = tasks.check_nodes_for_a_minute()
    finally:
        nodes_checked.disconnect(receiver)
    # Passes at 0, 0.3, 0.6, 0.9 s; the next would end past the 1.5 s deadline minus a timeout.
    assert 3 <= passes <= 5
    assert len(beats) == passes
    node = Node.objects.get()
    assert node.state == Node.State.HEALTHY
    assert node.checks.count() == passes
