"""Where a replica runs: Ray actor options and engine settings for a layout on a device, and the
placement group of an expert-parallel group (docs/layouts.md)."""

import os
from dataclasses import dataclass

from cluster.config import ClusterConfig
from cluster.replica.engine import engine_class


@dataclass(frozen=True)
class ReplicaPlan:
    """Everything the controller needs to start replica number `slot` of the cluster."""

    engine: str  # the engine's registered name
    settings: object  # what that engine is built from (`settings_from`)
    device: str
    tensor_parallel: int
    cpu_threads: int  # CPU engines: cores per tensor-parallel rank
    gpus: int = 0  # GPUs each rank asks Ray for: the tensor-parallel size on GPU devices
    ranks: int = 1  # actors per replica: the data-parallel ranks of an expert-parallel group
    gpus_per_node: int = 8

    def bundles(self) -> list[dict[str, float]]:
        """The placement group's bundles, one per rank: what each rank's actor asks for."""
        options = self.actor_options(0)
        bundle = {"GPU": float(self.gpus)}
        if options.get("num_cpus"):
            bundle["CPU"] = float(options["num_cpus"])
        return [bundle] * self.ranks

    def strategy(self) -> str:
        """STRICT_PACK when the group fits one node (its all-to-alls stay on NVLink); else PACK, over as
        few nodes as will hold it. Rank 0's node is the group's data-parallel master either way."""
        return "STRICT_PACK" if self.ranks * self.gpus <= self.gpus_per_node else "PACK"

    @property
    def grouped(self) -> bool:
        """Whether replicas are placement groups of ranks: expert-parallel ranks that ask for GPUs.
        Ranks that ask for nothing (stand-ins on a CPU machine) are placed anywhere."""
        return self.ranks > 1 and self.gpus > 0

    def actor_options(self, slot: int) -> dict:
        """Ray options for the replica in `slot`; CPU replicas get their own cores, bound by slot."""
        env = {"VLLM_HOST_IP": "127.0.0.1" if self.device == "cpu" else "", "VLLM_NO_USAGE_STATS": "1",
               "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               # xgrammar 0.2.8's compile cache confuses the special-token rules of different
               # grammars: the second structural tag compiled gets the first one's token masks.
               # Compiling every constrained request afresh costs milliseconds.
               "VLLM_XGRAMMAR_CACHE_MB": "0"}
        env = {k: v for k, v in env.items() if v}
        if engine_class(self.engine).resources == "none":  # GPUs only where a placement experiment asks for them
            return dict(num_cpus=0, num_gpus=self.gpus, runtime_env={"env_vars": env})
        if self.device == "gpu":
            return dict(num_gpus=self.gpus, num_cpus=1, runtime_env={"env_vars": env})
        env["VLLM_TARGET_DEVICE"] = "cpu"
        env["VLLM_CPU_OMP_THREADS_BIND"] = self.cpu_binding(slot)
        # `gpus` on a CPU device only matters to placement tests on clusters of logical GPUs.
        return dict(num_cpus=self.cpu_threads * self.tensor_parallel, num_gpus=self.gpus,
                    runtime_env={"env_vars": env})

    def cpu_binding(self, slot: int, cores: int | None = None) -> str:
        """OMP core binding such as '0' or '0|1' (one group per rank), wrapping around the machine."""
        cores = cores or os.cpu_count() or 1
        groups = []
        for rank in range(self.tensor_parallel):
            first = ((slot * self.tensor_parallel + rank) * self.cpu_threads) % cores
            last = min(first + self.cpu_threads, cores) - 1
            groups.append(str(first) if first == last else f"{first}-{last}")
        return "|".join(groups)


def plan_replicas(config: ClusterConfig, model_path: str) -> ReplicaPlan:
    tp = config.layout.tensor_parallel
    settings = engine_class(config.engine.kind).settings_from(config, model_path, tp)
    holds_gpus = engine_class(config.engine.kind).resources != "none" or config.engine.simulated.holds_gpus
    gpus = tp if config.device == "gpu" and holds_gpus else 0
    return ReplicaPlan(engine=config.engine.kind, settings=settings, device=config.device, tensor_parallel=tp,
                       cpu_threads=config.engine.cpu_threads_per_replica, gpus=gpus, ranks=config.layout.ranks,
                       gpus_per_node=config.gpus_per_node)
