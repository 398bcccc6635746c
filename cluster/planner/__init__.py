"""`oss-cluster plan`: which layout, and how many GPUs, carry a target concurrency at a context length.

Pure computation over a model's config.json: `shape` reads it, `memory` models one GPU's memory
under vLLM, `plan` sizes each layout and recommends one, `cluster_yaml` writes and checks the
recommended cluster.yaml, `report` prints it, `cli` is the command. docs/capacity.md has the model.
"""
