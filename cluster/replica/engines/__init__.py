"""The built-in engines; importing this package registers them (see `cluster.replica.engine`)."""

from cluster.replica.engines import vllm_engine  # noqa: F401
from cluster.replica.engines.simulated import engine as simulated_engine  # noqa: F401
