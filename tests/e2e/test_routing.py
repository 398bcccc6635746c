"""Routing with two real replicas: prefixes land where they are cached, hot prefixes spill over, and a
replica that dies before the first token costs a retry, not a failed request."""

import random
import threading

import psutil
import pytest

from cluster._proto.cluster.v1 import inference_pb2 as pb
from tests.e2e.conftest import events_of, running_cluster, wait_for

pytestmark = pytest.mark.e2e

WORDS = ("the", "cat", "sat", "on", "mat", "and", "dog", "ran", "far", "sun", "tree", "house", "road", "blue")


@pytest.fixture(scope="module")
def two_replicas(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("two-replicas"), "replicas: 2\n") as cluster:
        wait_for(lambda: cluster.metric("oss_cluster_replicas_ready") == 2, 240, "both replicas to be ready",
                 interval_s=1)
        yield cluster


def system_prompt(seed: int, words: int = 600) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(words))


def generate(cluster, system: str, user: str, max_tokens: int = 2, session_id: str = ""):
    text = (f"<|start|>developer<|message|># Instructions\n\n{system}<|end|>"
            f"<|start|>user<|message|>{user}<|end|><|start|>assistant")
    request = pb.GenerateRequest(text=text, sampling=pb.Sampling(max_tokens=max_tokens, seed=1), session_id=session_id)
    return events_of(cluster.stub().Generate(request, timeout=120))


def routed(cluster) -> dict[str, float]:
    return {dict(labels)["replica"]: value for (name, labels), value in cluster.metrics().items()
            if name == "oss_cluster_routed_requests_total"}


def delta(after: dict, before: dict) -> dict[str, float]:
    return {rid: n - before.get(rid, 0) for rid, n in after.items() if n - before.get(rid, 0)}


def test_requests_sharing_a_long_system_prompt_land_where_it_is_cached(two_replicas):
    c = two_replicas
    for seed in (1, 2):
        system = system_prompt(seed)
        before = routed(c)
        for turn in range(5):
            events = generate(c, system, f"question {turn}: where is the {WORDS[turn]}?")
            assert events["finish"][0].reason == pb.FINISH_REASON_LENGTH
        went = delta(routed(c), before)
        assert len(went) == 1 and sum(went.values()) == 5, went  # all five on one replica
        replica = next(iter(went))
        hits = "oss_cluster_replica_prefix_cache_hit_tokens"
        # vLLM itself found the shared prompt in that replica's cache for the four later requests.
        wait_for(lambda: c.metric(hits, replica=replica) >= 4 * 500, 10, "the engine's prefix-cache hits to show")


def test_a_hot_prefix_spills_to_the_other_replica_under_load(two_replicas):
    c = two_replicas
    system = system_prompt(3)
    generate(c, system, "warm the cache")
    before = routed(c)
    threads = [threading.Thread(target=generate, args=(c, system, f"parallel {i}", 48)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    went = delta(routed(c), before)
    assert sum(went.values()) == 10 and len(went) == 2, went  # not all ten queued behind one replica


def test_a_replica_dying_before_the_first_token_costs_a_retry_not_the_request(two_replicas):
    """Runs last in this module: one replica is frozen, requests reach it, then it is killed."""
    c = two_replicas
    serve = psutil.Process(c.process.pid)
    replicas = [p for p in serve.children(recursive=True) if "ReplicaActor" in " ".join(p.cmdline())]
    assert len(replicas) == 2, [p.cmdline() for p in replicas]
    frozen = replicas[0]
    retries_before = c.metric("oss_cluster_routing_retries_total", reason="replica_died")
    before = routed(c)
    results: dict[int, dict] = {}

    def send(i: int) -> None:
        results[i] = generate(c, system_prompt(100 + i, 40), f"request {i}", max_tokens=4)

    frozen.suspend()
    try:
        threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: sum(delta(routed(c), before).values()) >= 4, 30, "the requests to be routed")
        wait_for(lambda: len(results) >= 1, 60, "requests on the live replica to finish")
        assert len(results) < 4, "no request reached the frozen replica"  # some wait on it, no token yet
    finally:
        frozen.kill()
    for t in threads:
        t.join(120)
    assert sorted(results) == [0, 1, 2, 3]
    for events in results.values():
        assert events["finish"][0].reason == pb.FINISH_REASON_LENGTH
        assert sum(len(chunk.token_ids) for chunk in events["tokens"]) == 4
    assert c.metric("oss_cluster_routing_retries_total", reason="replica_died") >= retries_before + 1
