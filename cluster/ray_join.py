"""How a process joins a running cluster's Ray as a driver: kept apart from the roles, so that a short
command such as `oss-cluster status` imports Ray and the controller's interface, not the gateway."""

import logging

import ray

from cluster.config import on_loopback
from cluster.controller.controller import NAMESPACE

STATE_FILE = "serve.json"  # in the cache directory: how `oss-cluster status` finds the embedded default


def join_ray(address: str, replica_logs: bool = False) -> None:
    """Joins an existing cluster as a driver on this node: `address`, or the cluster this node belongs to.

    Ray 2.60 protects clusters with a token (~/.ray/auth_token, or $RAY_AUTH_TOKEN) but sends it to
    an explicit address only when told to; a cluster on loopback is reached from loopback.
    """
    if address:  # ray.init does this itself for "auto" only
        from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available

        quiet = logging.getLogger("ray._private.authentication.authentication_token_setup")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # its warning says what every local cluster does
        try:
            maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
        finally:
            quiet.setLevel(level)
    ray.init(address=address or "auto", namespace=NAMESPACE, log_to_driver=replica_logs, configure_logging=False,
             **({"_node_ip_address": "127.0.0.1"} if on_loopback(address) else {}))
