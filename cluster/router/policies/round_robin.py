"""`round-robin` picker: takes the best-scored candidates in turn; with no scorers, plain round robin.

The baseline every other profile is measured against. No parameters.
"""

import itertools
import random
from collections.abc import Sequence

from cluster.router.policy import Candidate, Kind, Picker, RouteRequest, register


@register(Kind.PICKER, "round-robin")
class RoundRobin(Picker):
    def __init__(self):
        self._turn = itertools.count()

    def pick(self, request: RouteRequest, best: Sequence[Candidate], rng: random.Random) -> Candidate:
        ordered = sorted(best, key=lambda c: c.replica_id)  # a stable order while the set is unchanged
        return ordered[next(self._turn) % len(ordered)]
