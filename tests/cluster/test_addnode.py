"""manage.py addnode: register a node, or update the one with this name."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from cluster.models import Node

pytestmark = pytest.mark.django_db


def _addnode(*args: str) -> str:
    out = StringIO()
    call_command("addnode", *args, stdout=out)
    return out.getvalue()


def test_it_adds_a_node():
    out = _addnode("gpu1", "http://10.0.0.11:7860", "--capacity", "2", "--auth", "u:p")

    node = Node.objects.get()
    assert (node.name, node.url, node.capacity) == ("gpu1", "http://10.0.0.11:7860", 2)
    assert node.auth == ("u", "p")
    assert (node.state, node.enabled, node.draining) == (Node.State.UNKNOWN, True, False)
    assert "Added node gpu1" in out


def test_it_does_not_print_the_password():
    out = _addnode("gpu1", "http://10.0.0.11:7860", "--auth", "u:s3cret-xyz")
    assert "gpu1" in out and "s3cret-xyz" not in out


def test_it_keeps_a_colon_in_the_password():
    _addnode("gpu1", "http://10.0.0.11:7860", "--auth", "u:p:q")
    assert Node.objects.get().auth == ("u", "p:q")


def test_it_updates_the_node_with_the_same_name():
    _addnode("gpu1", "http://10.0.0.11:7860", "--capacity", "2", "--auth", "u:p")
    first = Node.objects.get()

    out = _addnode("gpu1", "http://10.0.0.12:7861/", "--capacity", "4", "--auth", "v:q")

    assert Node.objects.count() == 1
    node = Node.objects.get()
    assert (node.pk, node.code) == (first.pk, first.code)
    assert (node.url, node.capacity, node.auth) == ("http://10.0.0.12:7861", 4, ("v", "q"))
    assert "Updated node gpu1" in out


@pytest.mark.parametrize("auth", ["nocolon", ":p", "u:"])
def test_it_rejects_bad_auth(auth):
    with pytest.raises(CommandError, match="--auth must look like user:pass"):
        _addnode("gpu1", "http://10.0.0.11:7860", "--auth", auth)
    assert not Node.objects.exists()


@pytest.mark.parametrize("capacity", ["0", "-1"])
def test_it_rejects_a_capacity_below_one(capacity):
    with pytest.raises(CommandError, match="--capacity must be at least 1"):
        _addnode("gpu1", "http://10.0.0.11:7860", "--capacity", capacity)
    assert not Node.objects.exists()


@pytest.mark.parametrize("url", ["not a url", "10.0.0.11:7860", "http://"])
def test_it_rejects_an_invalid_url(url):
    with pytest.raises(CommandError, match="url: Enter a valid URL"):
        _addnode("gpu1", url)
    assert not Node.objects.exists()


def test_it_leaves_the_node_alone_when_an_update_is_invalid():
    _addnode("gpu1", "http://10.0.0.11:7860", "--capacity", "2", "--auth", "u:p")

    with pytest.raises(CommandError):
        _addnode("gpu1", "not a url", "--capacity", "3")

    node = Node.objects.get()
    assert (node.url, node.capacity, node.auth) == ("http://10.0.0.11:7860", 2, ("u", "p"))
