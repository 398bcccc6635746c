"""Workloads: when each request is sent and what it asks, planned up front from a seed.

The same spec and seed always give the same plan, so two runs (or two APIs) see identical traffic.
"""

import random
from dataclasses import dataclass, field

from loadtest.distributions import Distribution

PATTERNS = ("concurrency", "poisson", "burst")
# Words that are one token each in o200k, so a prompt of N words is about N tokens.
WORDS = ("the", "cat", "sat", "on", "mat", "and", "dog", "ran", "far", "sun", "rose", "over", "hill", "blue",
         "sky", "river", "stone", "light", "green", "tree", "house", "road", "city", "music", "water", "bird")


@dataclass(frozen=True)
class WorkloadSpec:
    pattern: str = "concurrency"  # concurrency: a closed loop; poisson / burst: an open loop at `rate`
    concurrency: int = 4
    rate: float = 2.0  # requests per second (poisson; burst while on)
    burst_on_s: float = 5.0
    burst_off_s: float = 5.0
    prompt_tokens: Distribution = field(default_factory=lambda: Distribution("fixed", 128))
    output_tokens: Distribution = field(default_factory=lambda: Distribution("fixed", 64))
    shared_prefix_fraction: float = 0.0  # share of requests that start with one of the shared system prompts
    shared_prefixes: int = 4
    prefix_tokens: int = 256
    reasoning_mix: tuple[tuple[str, float], ...] = (("low", 1.0),)
    long_context_fraction: float = 0.0  # share of requests whose prompt has `long_context_tokens`
    long_context_tokens: int = 4096
    session_turns: int = 1  # > 1: requests form sessions whose prompts grow turn by turn
    prompts: tuple[dict, ...] = ()  # from a JSONL file: {"prompt", optional "system", "max_tokens"}; cycled
    seed: int = 0

    def __post_init__(self):
        if self.pattern not in PATTERNS:
            raise ValueError(f"pattern: {self.pattern!r}; allowed: {', '.join(PATTERNS)}")
        if self.concurrency < 1 or self.rate <= 0 or not 0 <= self.shared_prefix_fraction <= 1:
            raise ValueError("concurrency must be >= 1, rate > 0, shared_prefix_fraction in [0, 1]")
        if not 0 <= self.long_context_fraction <= 1 or self.session_turns < 1 or self.long_context_tokens < 1:
            raise ValueError("long_context_fraction in [0, 1], long_context_tokens >= 1, session_turns >= 1")
        if self.pattern == "burst" and (self.burst_on_s <= 0 or self.burst_off_s < 0):
            raise ValueError("burst_on_s must be > 0 and burst_off_s >= 0")


@dataclass(frozen=True)
class PlannedRequest:
    index: int
    send_at_s: float | None  # offset from the start (open loop); None: as soon as a slot frees (closed loop)
    system: str  # shared system prompt, or ""
    prompt: str
    max_tokens: int
    reasoning_effort: str


def plan(spec: WorkloadSpec, count: int) -> list[PlannedRequest]:
    rng = random.Random(spec.seed)
    prefixes = [_text(random.Random(spec.seed * 1000 + i), spec.prefix_tokens) for i in range(spec.shared_prefixes)]
    times = _arrivals(spec, count, random.Random(spec.seed + 1))
    efforts, weights = zip(*spec.reasoning_mix)
    planned: list[PlannedRequest] = []
    history = ""  # the session so far: each turn's prompt repeats the earlier turns and adds one
    for i in range(count):
        shared = rng.random() < spec.shared_prefix_fraction
        system = rng.choice(prefixes) if shared else ""
        max_tokens = spec.output_tokens.sample(rng)
        if spec.prompts:
            line = spec.prompts[i % len(spec.prompts)]
            system = line.get("system", system)
            prompt = line["prompt"]
            max_tokens = int(line.get("max_tokens", max_tokens))
        elif rng.random() < spec.long_context_fraction:
            prompt = _text(rng, spec.long_context_tokens)
        else:
            prompt = _text(rng, spec.prompt_tokens.sample(rng))
        if spec.session_turns > 1:
            if i % spec.session_turns == 0:
                history = ""
            elif planned:
                system = planned[-1].system  # a session keeps its system prompt
            history = f"{history}\n{prompt}" if history else prompt
            prompt = history
        planned.append(PlannedRequest(index=i, send_at_s=times[i] if times else None, system=system, prompt=prompt,
                                      max_tokens=max_tokens, reasoning_effort=rng.choices(efforts, weights)[0]))
    return planned


def load_prompts(path: str) -> tuple[dict, ...]:
    """Prompts from a JSONL file, one object per line with at least "prompt"."""
    import json

    prompts = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            item = json.loads(line)
            if not isinstance(item, dict) or not isinstance(item.get("prompt"), str):
                raise ValueError(f"{path}:{number}: expected an object with a string \"prompt\"")
            prompts.append(item)
    if not prompts:
        raise ValueError(f"{path}: no prompts")
    return tuple(prompts)


def _arrivals(spec: WorkloadSpec, count: int, rng: random.Random) -> list[float]:
    """Send times for open-loop patterns: Poisson at `rate`, or Poisson during on-periods only."""
    if spec.pattern == "concurrency":
        return []
    times, clock = [], 0.0
    while len(times) < count:
        clock += rng.expovariate(spec.rate)
        if spec.pattern == "burst":
            period = spec.burst_on_s + spec.burst_off_s
            if clock % period >= spec.burst_on_s:  # in an off-period: skip to the next on-period
                clock = (clock // period + 1) * period
                continue
        times.append(clock)
    return times


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))
