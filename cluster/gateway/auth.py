"""Who may call the gateway: bearer API keys, the same for gRPC and HTTP."""

import hmac
from pathlib import Path

from cluster.errors import Unauthenticated


class Authenticator:
    """Checks `Authorization: Bearer <key>` against a set of keys; with no keys, everyone may call."""

    def __init__(self, keys: frozenset[str] = frozenset()):
        self._keys = keys

    @classmethod
    def from_file(cls, path: str) -> "Authenticator":
        """Keys one per line; blank lines and lines starting with # are ignored."""
        if not path:
            return cls()
        lines = (line.strip() for line in Path(path).read_text().splitlines())
        return cls(frozenset(line for line in lines if line and not line.startswith("#")))

    def check(self, authorization: str | None) -> None:
        """Raises Unauthenticated unless `authorization` carries a known key."""
        if not self._keys:
            return
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise Unauthenticated("missing API key: send the header `Authorization: Bearer <key>`")
        if not any(hmac.compare_digest(key.strip(), known) for known in self._keys):
            raise Unauthenticated("invalid API key")
