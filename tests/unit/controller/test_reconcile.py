from cluster.controller.reconcile import Actions, ReplicaState, ReplicaStatus, decide

READY, STARTING, DEAD = ReplicaState.READY, ReplicaState.STARTING, ReplicaState.DEAD


def replica(rid: str, slot: int, state=READY, failed=0) -> ReplicaStatus:
    return ReplicaStatus(rid, slot, state, failed)


def test_empty_cluster_starts_every_slot():
    assert decide(3, [], 3) == Actions(start_slots=(0, 1, 2))


def test_steady_state_does_nothing():
    assert decide(2, [replica("a", 0), replica("b", 1, STARTING)], 3) == Actions()


def test_dead_replica_is_removed_and_its_slot_refilled():
    assert decide(2, [replica("a", 0, DEAD), replica("b", 1)], 3) == Actions(start_slots=(0,), remove_ids=("a",))


def test_replica_failing_health_checks_is_replaced_only_at_the_limit():
    assert decide(1, [replica("a", 0, failed=2)], 3) == Actions()
    assert decide(1, [replica("a", 0, failed=3)], 3) == Actions(start_slots=(0,), remove_ids=("a",))


def test_scaling_down_removes_the_highest_slots():
    actions = decide(1, [replica("a", 0), replica("b", 1), replica("c", 2)], 3)
    assert actions == Actions(remove_ids=("b", "c"))
