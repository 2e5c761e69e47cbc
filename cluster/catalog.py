"""What the cluster as a whole offers: the union of what its nodes report."""

from cluster.models import Node, model_key


def offered_models(nodes: list[Node] | None = None) -> dict[str, str]:
    """Model key → a title to show, over the nodes that can take jobs now."""
    nodes = list(Node.available()) if nodes is None else nodes
    models: dict[str, str] = {}
    for node in nodes:
        for title in node.model_titles():
            models.setdefault(model_key(title), title)
    return dict(sorted(models.items()))


def offered_samplers(nodes: list[Node] | None = None) -> list[str]:
    nodes = list(Node.available()) if nodes is None else nodes
    return sorted({name for node in nodes for name in node.samplers})


def largest_image(nodes: list[Node] | None = None) -> int:
    nodes = list(Node.available()) if nodes is None else nodes
    return max((node.max_pixels for node in nodes), default=0)
