"""Every Prometheus metric of the project, declared in one place. Imports nothing of the project."""

import functools

from prometheus_client import Counter, Gauge, Histogram

# Latency buckets in seconds: TTFT on a busy GPU spans milliseconds to tens of seconds.
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_INTER_TOKEN = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5)

REQUESTS = Counter("oss_cluster_requests_total",
                   "Calls finished, by API (grpc, http), method, tenant and gRPC status name (HTTP codes mapped).",
                   ["api", "method", "tenant", "code"])
IN_FLIGHT = Gauge("oss_cluster_in_flight_requests", "Calls being served by this gateway.", ["api", "method"])
TIME_TO_FIRST_TOKEN = Histogram("oss_cluster_time_to_first_token_seconds",
                                "From the request reaching the gateway to the first generated token.",
                                ["method", "tenant"], buckets=_LATENCY)
INTER_TOKEN_LATENCY = Histogram("oss_cluster_inter_token_latency_seconds",
                                "Between consecutive generated tokens, per token.", ["method"], buckets=_INTER_TOKEN)
END_TO_END_LATENCY = Histogram("oss_cluster_request_duration_seconds",
                               "From the request reaching the gateway to its last event.", ["method", "tenant"],
                               buckets=_LATENCY)
PROMPT_TOKENS = Counter("oss_cluster_prompt_tokens_total", "Prompt tokens of requests, counted once rendered.",
                        ["method", "tenant"])
COMPLETION_TOKENS = Counter("oss_cluster_completion_tokens_total", "Generated tokens, counted as they stream.",
                            ["method", "tenant"])
FINISHES = Counter("oss_cluster_finish_total", "Streams ended, by finish reason.", ["method", "reason"])
REPLICAS_READY = Gauge("oss_cluster_replicas_ready", "Replicas the gateway can route to.")
REPLICA_RUNNING = Gauge("oss_cluster_replica_running_requests", "Requests the replica's engine is running.",
                        ["replica"])
REPLICA_WAITING = Gauge("oss_cluster_replica_waiting_requests", "Requests queued in the replica's engine.",
                        ["replica"])
REPLICA_KV_CACHE_USAGE = Gauge("oss_cluster_replica_kv_cache_usage_ratio",
                               "Fraction of the replica's KV cache in use.", ["replica"])
REPLICA_GATEWAY_IN_FLIGHT = Gauge("oss_cluster_replica_gateway_in_flight_requests",
                                  "Requests this gateway has sent to the replica and not yet finished.", ["replica"])
ROUTING_DECISION_LATENCY = Histogram("oss_cluster_routing_decision_seconds",
                                     "Time to route one request: each filter/scorer/picker, and the whole decision.",
                                     ["policy"], buckets=(1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3,
                                                          5e-3, 0.01, 0.025, 0.1))
REPLICA_REFRESH = Histogram("oss_cluster_replica_refresh_seconds",
                            "Time of one look at the ready replicas and their loads; the loads a routing decision "
                            "reads are at most the refresh period (0.5 s) plus this old.",
                            buckets=(1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
ROUTED = Counter("oss_cluster_routed_requests_total", "Requests (attempts included) sent to each replica.",
                 ["replica"])
ROUTING_RETRIES = Counter("oss_cluster_routing_retries_total",
                          "Requests sent to another replica after one failed before the first token, by reason.",
                          ["reason"])
REPLICA_PREFIX_CACHE_QUERIES = Gauge("oss_cluster_replica_prefix_cache_queried_tokens",
                                     "Prompt tokens the replica's engine looked up in its prefix cache since it "
                                     "started.", ["replica"])
REPLICA_PREFIX_CACHE_HITS = Gauge("oss_cluster_replica_prefix_cache_hit_tokens",
                                  "Prompt tokens the replica's engine found in its prefix cache since it started.",
                                  ["replica"])
ADMISSION_QUEUE_DEPTH = Gauge("oss_cluster_admission_queue_depth", "Requests waiting for admission, by class.",
                              ["priority_class"])
ADMISSION_WAIT = Histogram("oss_cluster_admission_wait_seconds",
                           "Time requests waited for admission (admitted or not), by class.", ["priority_class"],
                           buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
ADMITTED = Counter("oss_cluster_admitted_requests_total", "Requests admitted to a replica, by class.",
                   ["priority_class"])
SHED = Counter("oss_cluster_shed_requests_total",
               "Requests refused with RESOURCE_EXHAUSTED / 429, by tenant, class and reason: the gateway's queue "
               "(queue_full, displaced, queue_timeout) or the tenant's limits (requests_per_minute, "
               "tokens_per_minute, max_concurrent).", ["tenant", "priority_class", "reason"])
RENDER_JOBS = Counter("oss_cluster_render_jobs_total",
                      "Requests prepared for the engine (checked, rendered, tokenized), by where (inline on the "
                      "event loop, or in a render worker) and outcome (ok, invalid, error, cancelled).",
                      ["where", "outcome"])
RENDER_SECONDS = Histogram("oss_cluster_render_seconds",
                           "Time to prepare a request for the engine, waiting for a render worker included.",
                           ["where"], buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                               2.5, 5, 10, 30))
EVENT_LOOP_LAG = Histogram("oss_cluster_event_loop_lag_seconds",
                           "How late the gateway's event loop ran a timer: the time every request, health check and "
                           "stream waited behind work that held the loop.",
                           buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
EVENT_LOOP_LAG_MAX = Gauge("oss_cluster_event_loop_lag_max_seconds",
                           "The longest event-loop lag since the gateway started.")

# The controller's view, exported by the process that runs the controller role (`oss-cluster controller`,
# or `oss-cluster serve` on its gateway's metrics port).
REPLICAS_DESIRED = Gauge("oss_cluster_replicas_desired", "Replicas the plan (or its autoscaler) wants now.")
REPLICAS = Gauge("oss_cluster_replicas", "Replicas the controller holds, by state (pending, starting, ready, "
                 "draining, stuck, dead).", ["state"])
CONTROLLER_STEP = Gauge("oss_cluster_controller_step_seconds",
                        "Time of the controller's last observe → decide → act step (every lifecycle.health_period_s).")
REPLICA_RESTARTS = Gauge("oss_cluster_replica_restarts",
                         "Replicas started in place of an earlier one, over all slots, since the plan was created.")
REPLICA_START_FAILURES = Gauge("oss_cluster_replica_start_failures",
                               "Failed starts in a row in each slot that has any.", ["slot"])
REPLICA_SLOTS_GIVEN_UP = Gauge("oss_cluster_replica_slots_given_up",
                               "Slots the controller stopped starting replicas in after lifecycle.max_start_failures "
                               "failures in a row (see `oss-cluster status` for why).")


@functools.cache
def child(metric, *values: str):
    """`metric.labels(*values)`, looked up once: the request path takes about ten children a request,
    and prometheus_client's `labels()` checks and locks on every call. Only for series that are
    never removed (not those labelled by replica, which go when the replica goes)."""
    return metric.labels(*values)
