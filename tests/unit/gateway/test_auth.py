import pytest

from cluster.errors import Unauthenticated
from cluster.gateway.auth import Authenticator


def test_no_keys_means_open():
    Authenticator().check(None)


def test_bearer_keys(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("# team keys\nalpha\n\n  beta  \n")
    auth = Authenticator.from_file(str(keys))
    auth.check("Bearer alpha")
    auth.check("bearer beta")
    for header, message in [(None, "missing API key"), ("Basic alpha", "missing API key"), ("Bearer gamma", "invalid")]:
        with pytest.raises(Unauthenticated, match=message):
            auth.check(header)
