"""The routing-policy seam: what the router asks of a policy, and the registry that builds them by name.

A decision runs filters → weighted scorers → one picker over `Candidate` snapshots. Policies are
plain objects built from their config parameters; they never call Ray or the network, so each is
tested on synthetic snapshots. A policy file registers its classes with `@register(kind, name)`;
the router imports every module of `cluster.router.policies` (and any configured plugin module),
so adding a policy touches no core file.
"""

import inspect
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from cluster.router.prefix_index import block_hashes
from cluster.types import PriorityClass


@dataclass(frozen=True)
class Candidate:
    """One replica (or, for expert-parallel layouts, one rank) as a policy sees it at decision time.

    `waiting` and `kv_cache_usage` come from the replica's last load snapshot; when that snapshot
    is stale (`fresh` is False) they are 0 and None, and policies rely on `in_flight` alone. Each rank
    of a group has its own KV cache and queue, so it is a candidate of its own (`replica_id` is then
    `<group id>.<rank>`); `group_id` and `rank` say which group it belongs to (docs/routing.md).
    """

    replica_id: str
    in_flight: int = 0  # requests this gateway sent there and has not seen finish
    running: int = 0
    waiting: int = 0
    kv_cache_usage: float | None = None
    fresh: bool = True
    block_size: int = 16  # the engine's KV block size, in tokens
    kv_blocks: int = 0  # the engine's KV-cache size in blocks; 0 while unknown
    group_id: str = ""  # the replica this candidate is a rank of; empty when not told
    rank: int = 0

    @property
    def load(self) -> int:
        """Queued work as the gateway knows it: its own in-flight requests plus the engine's waiting ones."""
        return self.in_flight + self.waiting


@dataclass
class RouteRequest:
    """What policies may look at: the prompt's token ids and the caller's session and class."""

    request_id: str
    prompt_token_ids: Sequence[int]
    session_id: str = ""
    priority_class: PriorityClass = PriorityClass.INTERACTIVE
    _hashes: dict[int, list[int]] = field(default_factory=dict, repr=False)

    def block_hashes(self, block_size: int) -> list[int]:
        """Chained hashes of the prompt's full blocks (computed once per block size)."""
        if block_size not in self._hashes:
            self._hashes[block_size] = block_hashes(self.prompt_token_ids, block_size)
        return self._hashes[block_size]


class Filter:
    """Drops candidates that should not get the request."""

    def filter(self, request: RouteRequest, candidates: Sequence[Candidate]) -> list[Candidate]:
        """Called once per decision with at least one candidate. Returns the ones to keep; returning
        none makes the router fall back to the unfiltered list (a filter never makes a request fail)."""
        raise NotImplementedError


class Scorer:
    """Rates candidates in [0, 1]; the router sums the ratings with the profile's weights."""

    def score(self, request: RouteRequest, candidates: Sequence[Candidate]) -> list[float]:
        """Called once per decision; returns one score in [0, 1] per candidate, in order."""
        raise NotImplementedError

    def routed(self, request: RouteRequest, replica_id: str) -> None:
        """Called after the router sent `request` to `replica_id` (policies that learn override it)."""

    def forget(self, replica_id: str) -> None:
        """Called when a replica leaves the ready set; drop what is kept about it."""


class Picker:
    """Chooses one of the best-scored candidates."""

    def pick(self, request: RouteRequest, best: Sequence[Candidate], rng: random.Random) -> Candidate:
        """Called once per decision with the candidates sharing the top score (at least one)."""
        raise NotImplementedError


class Kind(str, Enum):
    FILTER = "filter"
    SCORER = "scorer"
    PICKER = "picker"


class PolicyError(ValueError):
    """A routing policy or one of its parameters is not valid; the message names it."""


_REGISTRY: dict[tuple[Kind, str], Callable] = {}


def register(kind: Kind, name: str):
    """Class decorator: makes the class buildable as `name` in a profile's filters, scorers or picker.

    The class is constructed with the policy's configured parameters as keyword arguments.
    """

    def add(cls):
        key = (kind, name)
        if key in _REGISTRY:
            raise PolicyError(f"{kind.value} {name!r} is registered twice")
        _REGISTRY[key] = cls
        return cls

    return add


def parameters(kind: Kind, name: str) -> set[str]:
    """The parameter names a registered policy takes; PolicyError if `name` is not a `kind`."""
    cls = _REGISTRY.get((kind, name))
    if cls is None:
        raise PolicyError(f"{name!r} is not a {kind.value}; registered: {', '.join(registered(kind))}")
    return {p.name for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def build(kind: Kind, name: str, params: dict):
    """A policy instance from the parameters it takes out of `params` (a name playing two roles,
    such as kv-headroom as filter and scorer, shares one params entry); PolicyError if invalid."""
    accepted = parameters(kind, name)
    return _REGISTRY[(kind, name)](**{k: v for k, v in params.items() if k in accepted})


def registered(kind: Kind) -> list[str]:
    return sorted(n for k, n in _REGISTRY if k is kind)
