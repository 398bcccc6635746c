"""Where a replica runs: Ray actor options and engine settings for a layout on a device."""

import os
from dataclasses import dataclass

from cluster.config import ClusterConfig
from cluster.replica.engine import engine_class

TENSOR_PARALLEL = {"tp1": 1, "tp2": 2}


@dataclass(frozen=True)
class ReplicaPlan:
    """Everything the controller needs to start replica number `slot` of the cluster."""

    engine: str  # the engine's registered name
    settings: object  # what that engine is built from (`settings_from`)
    device: str
    tensor_parallel: int
    cpu_threads: int  # CPU engines: cores per tensor-parallel rank
    gpus: int = 0  # GPUs each replica asks Ray for: the tensor-parallel size on GPU devices

    def actor_options(self, slot: int) -> dict:
        """Ray options for the replica in `slot`; CPU replicas get their own cores, bound by slot."""
        env = {"VLLM_HOST_IP": "127.0.0.1" if self.device == "cpu" else "", "VLLM_NO_USAGE_STATS": "1",
               "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               # xgrammar 0.2.8's compile cache confuses the special-token rules of different
               # grammars: the second structural tag compiled gets the first one's token masks.
               # Compiling every constrained request afresh costs milliseconds.
               "VLLM_XGRAMMAR_CACHE_MB": "0"}
        env = {k: v for k, v in env.items() if v}
        if engine_class(self.engine).resources == "none":
            return dict(num_cpus=0, runtime_env={"env_vars": env})
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
    tp = TENSOR_PARALLEL[config.layout]
    settings = engine_class(config.engine.kind).settings_from(config, model_path, tp)
    return ReplicaPlan(engine=config.engine.kind, settings=settings, device=config.device, tensor_parallel=tp,
                       cpu_threads=config.engine.cpu_threads_per_replica, gpus=tp if config.device == "gpu" else 0)
