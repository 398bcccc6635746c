"""The router: turns the replica set into candidate snapshots and asks the profile for a decision."""

import logging
import random
import time
from collections.abc import Collection

from cluster import metrics
from cluster.router.policy import Candidate, RouteRequest
from cluster.router.profile import Profile
from cluster.router.replica_set import Replica, ReplicaSet

log = logging.getLogger(__name__)


class Router:
    """Chooses a ready replica per request attempt. Knows nothing of gRPC or HTTP.

    Every actor that takes requests is a candidate: a whole replica for tp1/tp2; for multi-rank
    layouts the controller announces each rank's actor, so each rank is a candidate of its own.
    """

    def __init__(self, replicas: ReplicaSet, profile: Profile, snapshot_max_age_s: float,
                 rng: random.Random | None = None):
        self._replicas = replicas
        self._profile = profile
        self._max_age_s = snapshot_max_age_s
        self._rng = rng or random.Random()
        self._known: set[str] = set()

    def choose(self, request: RouteRequest, exclude: Collection[str] = ()) -> Replica | None:
        """The replica for this attempt, never one in `exclude` (those that already failed it);
        None when no ready replica is left."""
        ready = self._replicas.ready()
        self._forget_departed({r.replica_id for r in ready})
        ready = [r for r in ready if r.replica_id not in exclude]
        if not ready:
            return None
        now = time.monotonic()
        decision = self._profile.decide(request, [self._candidate(r, now) for r in ready], self._rng)
        chosen = next(r for r in ready if r.replica_id == decision.candidate.replica_id)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("request %s → replica %s: %s", request.request_id, chosen.replica_id, decision.explain())
        metrics.ROUTED.labels(chosen.replica_id).inc()
        return chosen

    def _candidate(self, replica: Replica, now: float) -> Candidate:
        load = replica.load
        fresh = now - replica.loaded_at <= self._max_age_s
        return Candidate(replica_id=replica.replica_id, in_flight=replica.in_flight,
                         running=load.running if fresh else 0, waiting=load.waiting if fresh else 0,
                         kv_cache_usage=load.kv_cache_usage if fresh else None, fresh=fresh,
                         block_size=load.block_size, kv_blocks=load.kv_blocks,
                         group_id=replica.group_id or replica.replica_id, rank=replica.rank)

    def _forget_departed(self, ready_ids: set[str]) -> None:
        for replica_id in self._known - ready_ids:
            self._profile.forget(replica_id)
        self._known = ready_ids
