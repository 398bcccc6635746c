"""The GPUs the planner knows, by the memory each reports: `torch.cuda.get_device_properties(0)
.total_memory`, the figure vLLM's `gpu_memory_utilization` is a fraction of (not the marketing GB)."""

GPU_MEMORY_BYTES = {
    "H100-80GB": 85_045_526_528,  # H100 80GB HBM3 (SXM): 79.2 GiB
    "H200-141GB": 150_754_820_096,  # H200 141GB HBM3e: 140.4 GiB
    "A100-80GB": 85_089_566_720,  # A100-SXM4-80GB: 79.25 GiB
}


def gpu_memory_bytes(name: str) -> int:
    """The total memory of a known GPU; ValueError naming the known ones otherwise."""
    if name not in GPU_MEMORY_BYTES:
        raise ValueError(f"{name!r} is not a known GPU; known: {', '.join(GPU_MEMORY_BYTES)}")
    return GPU_MEMORY_BYTES[name]
