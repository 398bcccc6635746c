"""The load-test tool: workloads, clients for both APIs, statistics and reports."""
