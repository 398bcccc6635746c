"""`least-loaded`: prefer replicas with less queued work (gateway in-flight + engine waiting).

As a scorer, the least-loaded candidate scores 1 and one with k more requests 1/(1+k), so a
difference of one request matters more among idle replicas than among busy ones.
As a picker, power of two choices: two random candidates among the best-scored, the less loaded
wins. It spreads load nearly as well as a global minimum while gateways that see slightly
different loads do not all rush to the same replica. No parameters.
"""

import random
from collections.abc import Sequence

from cluster.router.policy import Candidate, Kind, Picker, RouteRequest, Scorer, register


@register(Kind.SCORER, "least-loaded")
class LeastLoadedScorer(Scorer):
    def score(self, request: RouteRequest, candidates: Sequence[Candidate]) -> list[float]:
        lowest = min(c.load for c in candidates)
        return [1.0 / (1 + c.load - lowest) for c in candidates]


@register(Kind.PICKER, "least-loaded")
class PowerOfTwoChoices(Picker):
    def pick(self, request: RouteRequest, best: Sequence[Candidate], rng: random.Random) -> Candidate:
        if len(best) == 1:
            return best[0]
        first, second = rng.sample(list(best), 2)
        return second if second.load < first.load else first
