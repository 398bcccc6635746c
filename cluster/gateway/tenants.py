"""Tenants: the teams that call the gateway, each proven by API keys stored hashed, each with its limits.

The tenants file (YAML; a file, or a Kubernetes Secret mounted as one) names every tenant:

    tenants:
      search:
        keys: ["sha256:9f86d081…"]   # `oss-cluster hash-key` prints this from a key on its stdin
        requests_per_minute: 600     # absent or 0: no limit
        tokens_per_minute: 400000    # prompt and completion tokens, the latter counted as they stream
        max_concurrent: 32           # requests open at once
        max_context: 16384           # prompt + completion tokens of one request
        priority_classes: [interactive, batch]
        weight: 1                    # its share of a busy gateway's queue against other tenants

Only hashes are stored: keys are random secrets of at least 128 bits, so one SHA-256 is enough and
a lookup is a dictionary probe with the caller's hash. The gateway reads the file again whenever its
content changes (a Secret's update included); a file that no longer parses leaves the tenants as
they were, and says why in the log. Without a tenants file every caller is the tenant `anonymous`,
without limits (the embedded default on loopback).
"""

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cluster.config import ConfigError
from cluster.errors import Unauthenticated
from cluster.types import PriorityClass

log = logging.getLogger(__name__)

HASH = re.compile(r"sha256:[0-9a-f]{64}")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")  # tenants name metric series and audit lines
ANONYMOUS_NAME = "anonymous"
RELOAD_EVERY_S = 5.0
LIMIT_FIELDS = ("requests_per_minute", "tokens_per_minute", "max_concurrent", "max_context")


class TenantsError(ConfigError):
    """The tenants file is not valid; the message names the field."""


@dataclass(frozen=True)
class TenantLimits:
    """0 means no limit."""

    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    max_concurrent: int = 0
    max_context: int = 0
    priority_classes: frozenset[PriorityClass] = frozenset(PriorityClass)
    weight: float = 1.0


@dataclass(frozen=True)
class Tenant:
    name: str
    limits: TenantLimits = field(default_factory=TenantLimits)


ANONYMOUS = Tenant(ANONYMOUS_NAME)


def hash_key(key: str) -> str:
    """The form a key is stored in: `sha256:` and the hex digest of its UTF-8 bytes."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def parse_tenants(text: str) -> dict[str, Tenant]:
    """Key hash → tenant, from the tenants file's text; raises TenantsError naming the field."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TenantsError(f"not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict) or set(raw) != {"tenants"} or not isinstance(raw["tenants"], dict):
        raise TenantsError("the file must hold one mapping, `tenants:`, of tenant names to their keys and limits")
    if not raw["tenants"]:
        raise TenantsError("tenants: names no tenant; every key would be refused")
    by_hash: dict[str, Tenant] = {}
    for name, spec in raw["tenants"].items():
        tenant = _tenant(str(name), spec)
        for i, digest in enumerate(spec["keys"]):
            if digest in by_hash:
                raise TenantsError(f"tenants.{name}.keys[{i}]: the same key hash is already given to tenant "
                                   f"{by_hash[digest].name}; a key belongs to one tenant")
            by_hash[digest] = tenant
    return by_hash


def _tenant(name: str, spec) -> Tenant:
    where = f"tenants.{name}"
    if not NAME.fullmatch(name) or name == ANONYMOUS_NAME:
        raise TenantsError(f"{where}: a tenant's name is 1 to 63 letters, digits, `_`, `.` or `-`, starting with a "
                           f"letter or digit, and not `{ANONYMOUS_NAME}`")
    if not isinstance(spec, dict):
        raise TenantsError(f"{where}: must be a mapping with `keys` and optional limits")
    unknown = set(spec) - {"keys", "priority_classes", "weight", *LIMIT_FIELDS}
    if unknown:
        raise TenantsError(f"{where}.{sorted(unknown)[0]}: unknown field; allowed: keys, priority_classes, weight, "
                           + ", ".join(LIMIT_FIELDS))
    keys = spec.get("keys")
    if not isinstance(keys, list) or not keys:
        raise TenantsError(f"{where}.keys: must list at least one key hash")
    for i, digest in enumerate(keys):
        if not isinstance(digest, str) or not HASH.fullmatch(digest):
            # never echo the value: it may be a key pasted by mistake
            raise TenantsError(f"{where}.keys[{i}]: not a key hash; store `sha256:<64 hex digits>` as printed by "
                               "`oss-cluster hash-key`, never the key itself")
    limits = {}
    for name_ in LIMIT_FIELDS:
        value = spec.get(name_, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise TenantsError(f"{where}.{name_}: must be a whole number ≥ 0 (0: no limit)")
        limits[name_] = value
    classes = spec.get("priority_classes", [c.value for c in PriorityClass])
    allowed = {c.value for c in PriorityClass}
    if not isinstance(classes, list) or not classes or not all(c in allowed for c in classes):
        raise TenantsError(f"{where}.priority_classes: must list one or more of {', '.join(sorted(allowed))}")
    weight = spec.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight <= 1000:
        raise TenantsError(f"{where}.weight: must be a number greater than 0 and at most 1000")
    return Tenant(name, TenantLimits(priority_classes=frozenset(PriorityClass(c) for c in classes),
                                     weight=float(weight), **limits))


class Tenants:
    """Who is calling: the tenant a bearer key belongs to, from a tenants file that may change."""

    def __init__(self, path: str = ""):
        self._path = path
        self._text: str | None = None
        self._by_hash: dict[str, Tenant] = {}
        if path:
            self.reload()  # at start-up a bad file is an error, not a log line

    @property
    def enabled(self) -> bool:
        return bool(self._path)

    def names(self) -> list[str]:
        return sorted({t.name for t in self._by_hash.values()}) if self.enabled else [ANONYMOUS_NAME]

    def authenticate(self, authorization: str | None) -> Tenant:
        """The caller's tenant from `Authorization: Bearer <key>`; raises Unauthenticated."""
        if not self.enabled:
            return ANONYMOUS
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthenticated("missing API key: send the header `Authorization: Bearer <key>`")
        tenant = self._by_hash.get(hash_key(key.strip()))
        if tenant is None:
            raise Unauthenticated("invalid API key")
        return tenant

    def reload(self) -> bool:
        """Reads the file; applies it if its content changed. True when the tenants changed. Raises
        OSError or TenantsError, leaving the tenants as they were."""
        text = Path(self._path).read_text()
        if text == self._text:
            return False
        self._by_hash = parse_tenants(text)
        self._text = text
        return True

    async def watch(self, stop: asyncio.Event, every_s: float = RELOAD_EVERY_S) -> None:
        """Re-reads the file every `every_s` until `stop` is set (off the event loop: it is a file read)."""
        while self.enabled and not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), every_s)
                return
            except TimeoutError:
                pass
            try:
                if await asyncio.to_thread(self.reload):
                    log.info("tenants file %s reloaded: %d tenant(s)", self._path, len(self.names()))
            except (OSError, TenantsError) as exc:
                log.error("tenants file %s not reloaded, the previous tenants stay: %s", self._path, exc)
