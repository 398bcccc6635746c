from cluster.controller.reconcile import Actions, ReplicaState, ReplicaStatus, SlotStatus, decide

READY, STARTING, PENDING = ReplicaState.READY, ReplicaState.STARTING, ReplicaState.PENDING
DEAD, STUCK, DRAINING = ReplicaState.DEAD, ReplicaState.STUCK, ReplicaState.DRAINING
NOW = 1000.0


def replica(rid: str, slot: int, state=READY, failed=0, template="new") -> ReplicaStatus:
    return ReplicaStatus(rid, slot, state, template, failed)


def run(desired: int, replicas: list[ReplicaStatus], slots: dict | None = None) -> Actions:
    return decide(desired, replicas, slots or {}, "new", NOW, 3)


def test_empty_cluster_starts_every_slot():
    assert run(3, []) == Actions(start_slots=(0, 1, 2))


def test_steady_state_does_nothing():
    assert run(3, [replica("a", 0), replica("b", 1, STARTING), replica("c", 2, PENDING)]) == Actions()


def test_dead_and_stuck_replicas_are_removed_and_their_slots_refilled():
    actions = run(3, [replica("a", 0, DEAD), replica("b", 1), replica("c", 2, STUCK)])
    assert actions == Actions(start_slots=(0, 2), remove_ids=("a", "c"))


def test_replica_failing_health_checks_is_replaced_only_at_the_limit():
    assert run(1, [replica("a", 0, failed=2)]) == Actions()
    assert run(1, [replica("a", 0, failed=3)]) == Actions(start_slots=(0,), remove_ids=("a",))


def test_scaling_in_drains_ready_replicas_of_the_highest_slots_and_drops_those_not_serving_yet():
    actions = run(1, [replica("a", 0), replica("b", 1), replica("c", 2, STARTING)])
    assert actions == Actions(drain_ids=("b",), remove_ids=("c",))


def test_a_draining_replica_neither_counts_for_its_slot_nor_is_drained_again():
    assert run(1, [replica("a", 0, DRAINING)]) == Actions(start_slots=(0,))
    assert run(0, [replica("a", 0, DRAINING)]) == Actions()


def test_scale_to_zero_drains_everything():
    assert run(0, [replica("a", 0), replica("b", 1)]) == Actions(drain_ids=("a", "b"))


def test_a_slot_waits_for_its_back_off_and_a_given_up_slot_is_left_empty():
    slots = {0: SlotStatus(failures=2, retry_at=NOW + 5), 1: SlotStatus(failures=5, given_up="5 failed starts"),
             2: SlotStatus(failures=1, retry_at=NOW - 1)}
    assert run(3, [], slots) == Actions(start_slots=(2,))


def test_rollout_starts_one_new_replica_beside_the_old_one():
    old = [replica("a", 0, template="old"), replica("b", 1, template="old")]
    assert run(2, old) == Actions(start_slots=(0,))


def test_rollout_waits_while_the_new_replica_loads_then_drains_the_old_one():
    starting = [replica("a", 0, template="old"), replica("n", 0, STARTING), replica("b", 1, template="old")]
    assert run(2, starting) == Actions()
    ready = [replica("a", 0, template="old"), replica("n", 0), replica("b", 1, template="old")]
    assert run(2, ready) == Actions(drain_ids=("a",))


def test_rollout_moves_to_the_next_slot_once_the_old_replica_is_draining():
    replicas = [replica("a", 0, DRAINING, template="old"), replica("n", 0), replica("b", 1, template="old")]
    assert run(2, replicas) == Actions(start_slots=(1,))


def test_an_old_replica_not_serving_yet_is_replaced_outright():
    assert run(1, [replica("a", 0, STARTING, template="old")]) == Actions(start_slots=(0,), remove_ids=("a",))
