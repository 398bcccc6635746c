"""Least-loaded choice: the replica with the fewest requests this gateway has in flight plus queued ones."""

import random
from collections.abc import Sequence

from cluster.router.replica_set import Replica


def pick_least_loaded(candidates: Sequence[Replica], rng: random.Random = random.Random()) -> Replica | None:
    """Lowest (gateway in-flight + engine waiting); ties broken at random so equal replicas share work."""
    if not candidates:
        return None
    best = min(_score(r) for r in candidates)
    return rng.choice([r for r in candidates if _score(r) == best])


def _score(replica: Replica) -> int:
    return replica.in_flight + replica.load.waiting
