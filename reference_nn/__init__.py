"""Reference from-scratch MNIST networks of five published documents, in three styles.

``NETWORKS`` holds one spec per document; ``network(name, style=, variant=)`` builds one.
"""

from reference_nn.network import STYLES, Network, network
from reference_nn.networks import NETWORKS
from reference_nn.spec import VARIANTS, NetworkSpec

__all__ = ["NETWORKS", "STYLES", "VARIANTS", "Network", "NetworkSpec", "network"]
