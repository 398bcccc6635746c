from tests.unit.controller.factories import autoscaler, changes, counts, observation, simulate, spread, unpaced


def test_the_policy_compares_mean_usage_with_the_target_and_counts_starting_replicas_as_empty():
    scaler = autoscaler("kv-pressure", max_step=10)
    decision = scaler.step(0, [observation(replicas=2, kv=0.9)], 2)
    assert decision.desired == 3
    assert decision.reason == "kv-pressure: KV cache 90% full on average (target 75%) wants 3"
    one_starting = autoscaler("kv-pressure").step(0, [observation(replicas=2, kv=0.9)], 3)
    assert one_starting.desired == 3  # 1.8 caches' worth over 3 replicas is 60 %: ceil(3 × 0.8) = 3


def test_a_full_cache_with_requests_queued_asks_for_one_more_whatever_the_ratio():
    scaler = autoscaler("kv-pressure", {"target": 0.9})
    decision = scaler.step(0, [observation(replicas=2, kv=0.95, queue=3)], 2)
    assert decision.desired == 3 and "95% full on average (target 90%), 3 queued" in decision.reason


def test_ramp_adds_at_most_max_step_per_decision_and_waits_out_the_scale_up_cool_down():
    scaler = autoscaler("kv-pressure", max_replicas=5)
    decisions = simulate(scaler, lambda now, current: spread(now, current, kv_total=0.75 + now / 100), seconds=600)
    assert unpaced(decisions, scaler.config) == []
    assert [after - before for _, before, after in changes(decisions)] == [1] * 4  # 1 → 5, never down
    assert decisions[-1].reason.endswith("bounded by max_replicas 5")


def test_a_short_spike_is_not_followed_by_a_scale_down_right_after():
    scaler = autoscaler("kv-pressure", window_s=5.0)
    def spike(now, current):
        return spread(now, current, kv_total=3.0 if now == 100 else 1.5)
    decisions = simulate(scaler, spike, seconds=400, current=2)
    (up_at, _, _), (down_at, _, _) = changes(decisions, start=2)
    assert up_at == 100
    assert down_at >= up_at + scaler.config.scale_down_cooldown_s
    assert counts(decisions)[-1] == 2


def test_usage_wobbling_within_the_tolerance_keeps_the_count():
    scaler = autoscaler("kv-pressure", window_s=5.0)
    def wobble(now, current):
        return spread(now, current, kv_total=1.6 if now % 10 else 1.4)
    assert changes(simulate(scaler, wobble, seconds=600, current=2), start=2) == []


def test_usage_swinging_widely_changes_the_count_at_most_once_per_cool_down():
    scaler = autoscaler("kv-pressure", window_s=5.0, max_step=3)
    def swing(now, current):
        return spread(now, current, kv_total=3.0 if (now // 30) % 2 else 0.3)
    decisions = simulate(scaler, swing, seconds=1200, current=2)
    assert unpaced(decisions, scaler.config, start=2) == []
    assert 0 < len(changes(decisions, start=2)) <= 1200 / scaler.config.scale_up_cooldown_s
