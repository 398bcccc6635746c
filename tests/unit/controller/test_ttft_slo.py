from tests.unit.controller.factories import autoscaler, changes, observation, simulate, spread, unpaced


def test_the_policy_scales_by_how_far_the_median_p90_is_above_the_objective():
    scaler = autoscaler("ttft-slo", max_step=10)
    window = [observation(replicas=2, running=1, ttft=t) for t in (9.0, 5.0, None, 4.0)]
    decision = scaler.step(0, window, 2)
    assert decision.desired == 5  # median 5 s over 2 s: ceil(2 × 2.5)
    assert decision.reason == "ttft-slo: TTFT p90 5.00 s (objective 2 s) wants 5"
    assert autoscaler("ttft-slo").step(0, [observation(replicas=4, running=1, ttft=2.1)], 4).desired == 5


def test_a_fast_cluster_sheds_one_replica_only_with_nothing_queued_and_never_its_last_while_serving():
    assert autoscaler("ttft-slo").step(0, [observation(replicas=3, running=1, ttft=0.5)], 3).desired == 2
    queued = [observation(replicas=3, running=1, ttft=0.5), observation(replicas=3, running=1, ttft=0.5, queue=1)]
    assert autoscaler("ttft-slo").step(0, queued, 3).desired == 3
    assert autoscaler("ttft-slo").step(0, [observation(replicas=1, running=1, ttft=0.5)], 1).desired == 1


def test_ramp_adds_at_most_max_step_per_decision_and_waits_out_the_scale_up_cool_down():
    scaler = autoscaler("ttft-slo", max_replicas=5)
    def rising(now, current):
        return spread(now, current, work=current, ttft=(1 + now / 50) / current)
    decisions = simulate(scaler, rising, seconds=600)
    assert unpaced(decisions, scaler.config) == []
    assert [after - before for _, before, after in changes(decisions)] == [1] * 4  # 1 → 5, never down
    assert decisions[-1].reason.endswith("bounded by max_replicas 5")


def test_one_slow_instant_moves_nothing_and_a_scale_up_is_not_undone_right_after():
    scaler = autoscaler("ttft-slo")
    def blip(now, current):
        return spread(now, current, work=2, ttft=9.0 if now == 100 else 1.5)
    assert changes(simulate(scaler, blip, seconds=300, current=2), start=2) == []  # the median ignores it
    scaler = autoscaler("ttft-slo", window_s=5.0)
    def ttft(now):
        return 1.5 if now < 100 else 3.0 if now == 100 else 0.5
    def slow_then_fast(now, current):
        return spread(now, current, work=2, ttft=ttft(now))
    decisions = simulate(scaler, slow_then_fast, seconds=400, current=2)
    (up_at, _, _), (down_at, _, _) = changes(decisions, start=2)[:2]
    assert up_at == 100 and down_at >= up_at + scaler.config.scale_down_cooldown_s


def test_latency_between_low_and_the_objective_keeps_the_count():
    scaler = autoscaler("ttft-slo", window_s=5.0)
    def wobble(now, current):
        return spread(now, current, work=4, ttft=1.9 if now % 10 else 1.1)
    assert changes(simulate(scaler, wobble, seconds=600, current=2), start=2) == []


def test_latency_swinging_widely_changes_the_count_at_most_once_per_cool_down():
    scaler = autoscaler("ttft-slo", window_s=5.0, max_step=3)
    def swing(now, current):
        return spread(now, current, work=4, ttft=6.0 if (now // 30) % 2 else 0.2)
    decisions = simulate(scaler, swing, seconds=1200, current=2)
    assert unpaced(decisions, scaler.config, start=2) == []
    assert 0 < len(changes(decisions, start=2)) <= 1200 / scaler.config.scale_up_cooldown_s
