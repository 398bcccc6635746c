from cluster.controller.status import ClusterStatus, ReplicaView, SlotView, render


def status(**overrides) -> ClusterStatus:
    fields = dict(plan="abc", desired=2, replicas=(
        ReplicaView("r1", 0, "node-aaaaaaaaaaaaaaaa", 11, "ready", 3, 1, 0.25, 130.0, 0, False),
        ReplicaView("r2", 1, "", 0, "pending", 0, 0, 0.0, 5.0, 2, True)),
        slots=(SlotView(1, 2, 9.6, ""), SlotView(2, 5, 0.0, "5 failed starts in a row; the last: OOM")),
        policy="queue-depth", decision="queue-depth: 3.0 requests per replica (target 2) wants 2", decided_at=90.0,
        controller_pid=7, controller_started_at=0.0)
    return ClusterStatus(**(fields | overrides))


def test_the_table_shows_each_replica_and_the_lines_below_say_what_is_wrong():
    text = render(status(), now=100.0)
    lines = text.splitlines()
    assert lines[0] == "replicas: 1 ready of 2 desired (plan abc); controller pid 7, up 100s"
    assert lines[1] == ("autoscaling: queue-depth; last decision (10s ago): queue-depth: 3.0 requests per replica "
                        "(target 2) wants 2")
    assert lines[2].split() == ["REPLICA", "SLOT", "NODE", "STATE", "RUNNING", "WAITING", "KV", "%", "UPTIME",
                                "RESTARTS"]
    assert lines[3].split() == ["r1", "0", "node-aaaaaaa", "ready", "3", "1", "25.0", "2m", "0"]
    assert lines[4].split() == ["r2", "1", "-", "pending", "(outdated)", "0", "0", "0.0", "5s", "2"]
    assert "slot 1: 2 failed start(s) in a row; next try in 10 s" in text
    assert "slot 2: given up: 5 failed starts in a row; the last: OOM" in text


def test_a_fixed_count_says_so():
    assert "autoscaling: off (a fixed count)" in render(status(policy="", decision=""), now=0.0)


def test_a_group_says_how_many_ranks_and_over_how_many_nodes():
    group = ReplicaView("g1", 0, "node-a", 11, "ready", 8, 0, 0.5, 10.0, 0, False, ranks=16,
                        nodes=("node-a",) * 8 + ("node-b",) * 8)
    packed = ReplicaView("g2", 1, "node-c", 12, "ready", 2, 0, 0.1, 10.0, 0, False, ranks=4, nodes=("node-c",) * 4)
    lines = render(status(replicas=(group, packed)), now=100.0).splitlines()
    assert lines[3].split()[:5] == ["g1", "(16", "ranks)", "0", "2"] and "2 nodes" in lines[3]
    assert lines[4].split()[:6] == ["g2", "(4", "ranks)", "1", "node-c", "ready"]
