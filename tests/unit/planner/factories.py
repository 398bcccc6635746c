"""Small factories for planner tests: the shipped shapes and the inputs of a plan."""

from cluster.planner.gpus import gpu_memory_bytes
from cluster.planner.plan import Inputs
from cluster.planner.shape import ModelShape
from cluster.shapes import shape_config


def shape(name: str = "gpt-oss-120b") -> ModelShape:
    return ModelShape.from_config(shape_config(name))


def inputs(gpu: str = "H100-80GB", **kwargs) -> Inputs:
    return Inputs(gpu=gpu, gpu_bytes=gpu_memory_bytes(gpu), **kwargs)
