"""oss-cluster: a serving cluster for gpt-oss models (gRPC gateway, Ray replicas, vLLM)."""
