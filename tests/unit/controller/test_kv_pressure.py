from tests.unit.controller.factories import autoscaler, changes, counts, observation, simulate, spread, unpaced


def kv(total: float):
    """`total` replicas' worth of KV cache in use, shared by however many replicas there are."""
    return lambda now, current: spread(now, current, kv_total=total)


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


def test_the_scale_up_cool_down_holds_then_lets_the_next_step_through():
    scaler = autoscaler("kv-pressure")
    full = [observation(replicas=1, kv=1.0, queue=2)]
    assert scaler.step(0, full, 1).desired == 2
    held = scaler.step(5, [observation(replicas=2, kv=1.0, queue=2)], 2)
    assert held.desired == 2 and held.reason.endswith("held by scale-up cool-down (25 s left)")
    assert scaler.step(30, [observation(replicas=2, kv=1.0, queue=2)], 2).desired == 3


def test_the_count_stays_within_min_and_max_replicas():
    scaler = autoscaler("kv-pressure", min_replicas=2, max_replicas=3)
    assert counts(simulate(scaler, kv(0.0), seconds=300, current=2)) == [2] * 60
    assert max(counts(simulate(scaler, kv(10.0), seconds=300, current=2))) == 3


def test_a_queued_request_starts_the_first_replica_at_once():
    scaler = autoscaler("kv-pressure")
    scaler.restore({"last_scale_up_at": 0.0, "last_change_at": 0.0})
    decision = scaler.step(1, [observation(replicas=0, queue=1)], 0)
    assert decision.desired == 1
    assert decision.reason == "kv-pressure: no replica, 1 queued wants 1; cold start (1 queued)"


def test_idle_replicas_go_to_zero_after_the_scale_down_cool_down():
    scaler = autoscaler("kv-pressure")
    def traffic_then_idle(now, current):
        return spread(now, current, kv_total=0.5 if now < 60 else 0.0)
    decisions = simulate(scaler, traffic_then_idle, seconds=400)
    [(at, before, after)] = changes(decisions)
    assert (before, after) == (1, 0) and at >= 60 + scaler.config.scale_down_cooldown_s
