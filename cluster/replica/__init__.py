"""Replicas: the engine seam, the vLLM adapter, the Ray actor and the tiny default model."""
