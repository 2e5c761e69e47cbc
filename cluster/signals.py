from django.dispatch import Signal

# Sent with ``node=`` when a node becomes healthy (first check, or re-admitted
# after an ejection). ``generation`` connects to it to dispatch queued jobs:
# the cluster app never imports generation.
node_recovered = Signal()

# Sent after every health-check pass (about every NODE_CHECK_SECONDS): a
# steady beat that generation uses for its safety nets (lease reclaim,
# expiry, dispatch) without a schedule of its own.
nodes_checked = Signal()
