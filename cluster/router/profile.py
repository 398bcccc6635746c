"""A routing profile: filters → weighted scorers → picker, built by name from the router config."""

import importlib
import pkgutil
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cluster import metrics
from cluster.config import ConfigError, RouterConfig
from cluster.router import policies
from cluster.router.policy import (Candidate, Filter, Kind, Picker, PolicyError, RouteRequest, Scorer, build,
                                   parameters)

TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Decision:
    candidate: Candidate
    considered: list[Candidate]  # after the filters
    totals: list[float]  # weighted score of each considered candidate
    ratings: list[tuple[str, list[float]]]  # each scorer's own scores
    picked_by: str
    best: int  # candidates that shared the top score

    def explain(self) -> str:
        """The reason for the debug log: what each scorer said and who picked among how many."""
        said = "; ".join(f"{name} " + " ".join(f"{c.replica_id}={s:.2f}" for c, s in zip(self.considered, scores))
                         for name, scores in self.ratings)
        return f"{said or 'no scorers'}; {self.picked_by} picked among {self.best}"


def load_policies(plugin_modules: Sequence[str] = ()) -> None:
    """Imports the built-in policy modules and the configured plugin modules, which register themselves."""
    for module in pkgutil.iter_modules(policies.__path__):
        importlib.import_module(f"{policies.__name__}.{module.name}")
    for name in plugin_modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise PolicyError(f"plugin module {name!r} cannot be imported: {exc}") from None


class Profile:
    """Runs one decision over candidates; times each policy into the decision-latency histogram."""

    def __init__(self, filters: list[tuple[str, Filter]], scorers: list[tuple[str, Scorer, float]],
                 picker: tuple[str, Picker]):
        self.filters, self.scorers, self.picker = filters, scorers, picker

    @classmethod
    def from_names(cls, filters: Sequence[str], scorers: dict[str, float], picker: str,
                   params: dict[str, dict], plugins: Sequence[str] = ()) -> "Profile":
        """Builds the named policies with their parameters (the same `params` entry serves every role
        a policy name plays). Raises PolicyError naming the bad policy or parameter."""
        load_policies(plugins)
        roles = {Kind.FILTER: list(filters), Kind.SCORER: list(scorers), Kind.PICKER: [picker]}
        for kind, names in roles.items():
            for name in names:
                parameters(kind, name)  # raises for a name not registered as this kind
        for name, weight in scorers.items():
            if not 0 < weight <= 1000:
                raise PolicyError(f"scorer {name!r}: weight {weight} is out of range; allowed: above 0 to 1000")
        for name, given in params.items():
            known = set().union(*(parameters(k, name) for k, names in roles.items() if name in names))
            if not any(name in names for names in roles.values()):
                raise PolicyError(f"params given for {name!r}, which the profile does not use")
            extra = sorted(set(given) - known)
            if extra:
                allowed = ", ".join(sorted(known)) or "none"
                raise PolicyError(f"{name}: unknown parameter {extra[0]!r}; allowed: {allowed}")
        return cls([(n, build(Kind.FILTER, n, params.get(n, {}))) for n in filters],
                   [(n, build(Kind.SCORER, n, params.get(n, {})), w) for n, w in scorers.items()],
                   (picker, build(Kind.PICKER, picker, params.get(picker, {}))))

    def decide(self, request: RouteRequest, candidates: Sequence[Candidate], rng: random.Random) -> Decision:
        """Chooses among `candidates` (at least one)."""
        began = time.perf_counter()
        kept = list(candidates)
        for name, policy in self.filters:
            with _timed(f"filter/{name}"):
                survivors = policy.filter(request, kept)
            kept = survivors or kept  # a filter that would leave nothing is ignored: never fail a request
        totals = [0.0] * len(kept)
        ratings = []
        for name, policy, weight in self.scorers:
            with _timed(f"scorer/{name}"):
                scores = policy.score(request, kept)
            ratings.append((name, scores))
            totals = [t + weight * min(1.0, max(0.0, s)) for t, s in zip(totals, scores)]
        top = max(totals)
        best = [c for c, t in zip(kept, totals) if t >= top - TIE_TOLERANCE]
        name, picker = self.picker
        with _timed(f"picker/{name}"):
            chosen = picker.pick(request, best, rng)
        for _, policy, _ in self.scorers:
            policy.routed(request, chosen.replica_id)
        metrics.child(metrics.ROUTING_DECISION_LATENCY, "decision").observe(time.perf_counter() - began)
        return Decision(chosen, kept, totals, ratings, name, len(best))

    def forget(self, replica_id: str) -> None:
        for _, policy, _ in self.scorers:
            policy.forget(replica_id)


def profile_from_config(config: RouterConfig) -> Profile:
    """The configured profile; ConfigError (naming `router`) for an unknown policy or parameter."""
    try:
        return Profile.from_names(config.filters, config.scorers, config.picker, config.params, config.plugins)
    except PolicyError as exc:
        raise ConfigError(f"router: {exc}") from None


class _timed:
    def __init__(self, label: str):
        self.label = label

    def __enter__(self):
        self.began = time.perf_counter()

    def __exit__(self, *exc):
        metrics.child(metrics.ROUTING_DECISION_LATENCY, self.label).observe(time.perf_counter() - self.began)

