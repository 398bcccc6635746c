import random

import pytest

from loadtest.distributions import Distribution, parse_distribution
from loadtest.workload import WorkloadSpec, plan


def test_same_seed_same_plan_other_seed_other_plan():
    spec = WorkloadSpec(pattern="poisson", rate=5, prompt_tokens=parse_distribution("uniform:10:50"),
                        output_tokens=parse_distribution("lognormal:64:0.5"), shared_prefix_fraction=0.5,
                        reasoning_mix=(("low", 0.7), ("high", 0.3)), seed=7)
    assert plan(spec, 50) == plan(spec, 50)
    assert plan(spec, 50) != plan(WorkloadSpec(**{**spec.__dict__, "seed": 8}), 50)


def test_closed_loop_has_no_send_times():
    assert all(r.send_at_s is None for r in plan(WorkloadSpec(), 10))


def test_poisson_rate_is_respected_on_average():
    times = [r.send_at_s for r in plan(WorkloadSpec(pattern="poisson", rate=4, seed=3), 2000)]
    assert times == sorted(times)
    assert 3.7 < len(times) / times[-1] < 4.3


def test_bursts_send_only_while_on():
    spec = WorkloadSpec(pattern="burst", rate=20, burst_on_s=2, burst_off_s=3, seed=1)
    times = [r.send_at_s for r in plan(spec, 200)]
    assert all(t % 5 < 2 for t in times)
    assert max(times) > 10  # it crossed several off-periods


def test_shared_prefixes_and_effort_mix():
    spec = WorkloadSpec(shared_prefix_fraction=0.5, shared_prefixes=3, prefix_tokens=20,
                        reasoning_mix=(("low", 1), ("high", 1)), seed=2)
    requests = plan(spec, 400)
    systems = {r.system for r in requests if r.system}
    assert len(systems) == 3 and all(len(s.split()) == 20 for s in systems)
    assert 0.4 < sum(bool(r.system) for r in requests) / 400 < 0.6
    assert {r.reasoning_effort for r in requests} == {"low", "high"}


@pytest.mark.parametrize("text, expected", [("fixed:128", Distribution("fixed", 128)),
                                            ("uniform:8:16", Distribution("uniform", 8, 16)),
                                            ("lognormal:256:0.4", Distribution("lognormal", 256, 0.4))])
def test_parse_distribution(text, expected):
    assert parse_distribution(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize("text", ["fixed", "fixed:0", "uniform:9:3", "lognormal:x:1", "normal:1:2"])
def test_bad_distributions(text):
    with pytest.raises(ValueError):
        parse_distribution(text)


def test_samples_stay_in_range():
    rng = random.Random(0)
    values = [Distribution("uniform", 8, 16).sample(rng) for _ in range(500)]
    assert min(values) == 8 and max(values) == 16
    assert Distribution("lognormal", 100, 2.0, maximum=300).sample(random.Random(1)) <= 300


def test_sessions_grow_turn_by_turn_and_keep_their_system_prompt():
    requests = plan(WorkloadSpec(session_turns=3, shared_prefix_fraction=1.0, seed=4), 6)
    for session in (requests[0:3], requests[3:6]):
        first, second, third = session
        assert second.prompt.startswith(first.prompt) and third.prompt.startswith(second.prompt)
        assert len(third.prompt) > len(second.prompt) > len(first.prompt)
        assert first.system == second.system == third.system
    assert not requests[3].prompt.startswith(requests[2].prompt)  # a new session starts afresh


def test_long_context_mix():
    requests = plan(WorkloadSpec(long_context_fraction=0.25, long_context_tokens=1000, seed=5), 400)
    long = [r for r in requests if len(r.prompt.split()) == 1000]
    assert 0.18 < len(long) / 400 < 0.32


def test_prompts_from_a_jsonl_file(tmp_path):
    from loadtest.workload import load_prompts

    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "hello"}\n\n{"prompt": "bye", "system": "be brief", "max_tokens": 7}\n')
    requests = plan(WorkloadSpec(prompts=load_prompts(str(path))), 3)
    assert [r.prompt for r in requests] == ["hello", "bye", "hello"]
    assert (requests[1].system, requests[1].max_tokens) == ("be brief", 7)
    path.write_text('{"text": "x"}\n')
    with pytest.raises(ValueError, match="prompts.jsonl:1"):
        load_prompts(str(path))
