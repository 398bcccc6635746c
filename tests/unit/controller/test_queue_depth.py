from tests.unit.controller.factories import autoscaler, changes, counts, observation, simulate, spread, unpaced


def test_the_policy_divides_all_held_requests_by_the_replica_count():
    scaler = autoscaler("queue-depth", {"target": 2.0}, max_step=10)
    window = [observation(replicas=2, running=2, waiting=1, queue=4)] * 2  # 10 requests on 2 replicas
    decision = scaler.step(0, window, 2)
    assert decision.desired == 5
    assert decision.reason == "queue-depth: 5.0 requests per replica (target 2) wants 5"


def test_ramp_adds_at_most_max_step_per_decision_and_waits_out_the_scale_up_cool_down():
    scaler = autoscaler("queue-depth", max_replicas=6)
    decisions = simulate(scaler, lambda now, current: spread(now, current, work=8 + now / 2), seconds=600)
    assert unpaced(decisions, scaler.config) == []
    assert [after - before for _, before, after in changes(decisions)] == [1] * 5  # 1 → 6, never down
    assert counts(decisions)[-1] == 6
    assert "bounded by max_replicas 6" in decisions[-1].reason


def test_a_short_spike_is_not_followed_by_a_scale_down_right_after():
    scaler = autoscaler("queue-depth", window_s=5.0)
    def spike(now, current):
        return spread(now, current, 80 if now == 100 else 16)
    decisions = simulate(scaler, spike, seconds=400, current=2)
    (up_at, _, _), (down_at, _, _) = changes(decisions, start=2)
    assert up_at == 100
    assert down_at >= up_at + scaler.config.scale_down_cooldown_s
    assert counts(decisions)[-1] == 2


def test_a_short_dip_does_not_scale_down():
    scaler = autoscaler("queue-depth", window_s=5.0)
    def dip(now, current):
        return spread(now, current, 0 if now == 100 else 16)
    assert changes(simulate(scaler, dip, seconds=300, current=2), start=2) == []


def test_load_wobbling_within_the_tolerance_keeps_the_count():
    scaler = autoscaler("queue-depth", window_s=5.0)
    def wobble(now, current):
        return spread(now, current, 17 if now % 10 else 15)
    assert changes(simulate(scaler, wobble, seconds=600, current=2), start=2) == []


def test_load_swinging_widely_changes_the_count_at_most_once_per_cool_down():
    scaler = autoscaler("queue-depth", window_s=5.0, max_step=3)
    def swing(now, current):
        return spread(now, current, 40 if (now // 30) % 2 else 4)
    decisions = simulate(scaler, swing, seconds=1200, current=2)
    assert unpaced(decisions, scaler.config, start=2) == []
    assert 0 < len(changes(decisions, start=2)) <= 1200 / scaler.config.scale_up_cooldown_s
