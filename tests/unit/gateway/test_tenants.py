"""The tenants file: keys stored hashed, limits checked field by field, reloaded when it changes."""

import asyncio

import pytest

from cluster.errors import Unauthenticated
from cluster.gateway.tenants import ANONYMOUS, Tenants, TenantsError, hash_key, parse_tenants
from cluster.types import PriorityClass

KEY_A, KEY_B = "sk-team-a-0123456789abcdef", "sk-team-b-fedcba9876543210"


def tenants_file(tmp_path, body: str):
    path = tmp_path / "tenants.yaml"
    path.write_text(body)
    return path


def two_teams() -> str:
    return (f"tenants:\n"
            f"  search:\n    keys: ['{hash_key(KEY_A)}']\n    requests_per_minute: 60\n    tokens_per_minute: 1000\n"
            f"    max_concurrent: 2\n    max_context: 512\n    priority_classes: [batch]\n    weight: 2.5\n"
            f"  chat:\n    keys: ['{hash_key(KEY_B)}']\n")


def test_a_key_finds_its_tenant_and_its_limits(tmp_path):
    tenants = Tenants(str(tenants_file(tmp_path, two_teams())))
    search = tenants.authenticate(f"Bearer {KEY_A}")
    assert search.name == "search" and tenants.authenticate(f"bearer  {KEY_B} ").name == "chat"
    limits = search.limits
    assert (limits.requests_per_minute, limits.tokens_per_minute, limits.max_concurrent, limits.max_context,
            limits.weight) == (60, 1000, 2, 512, 2.5)
    assert limits.priority_classes == {PriorityClass.BATCH}
    assert tenants.authenticate(f"Bearer {KEY_B}").limits.priority_classes == set(PriorityClass)
    assert tenants.names() == ["chat", "search"]


@pytest.mark.parametrize("header, message", [(None, "missing API key"), ("Basic x", "missing API key"),
                                             ("Bearer ", "missing API key"), ("Bearer sk-unknown", "invalid API key")])
def test_callers_without_a_known_key_are_refused(tmp_path, header, message):
    tenants = Tenants(str(tenants_file(tmp_path, two_teams())))
    with pytest.raises(Unauthenticated, match=message):
        tenants.authenticate(header)


def test_without_a_tenants_file_everyone_is_the_anonymous_tenant():
    assert Tenants().authenticate(None) is ANONYMOUS and Tenants().names() == ["anonymous"]


@pytest.mark.parametrize("body, message", [
    ("tenants: {}", "names no tenant"),
    ("keys: []", "one mapping, `tenants:`"),
    ("tenants:\n  a: {keys: [sk-plain-key-pasted]}", r"tenants.a.keys\[0\]: not a key hash"),
    ("tenants:\n  a: {keys: []}", "tenants.a.keys: must list at least one"),
    ("tenants:\n  a: {keys: [K], rpm: 5}", "tenants.a.rpm: unknown field"),
    ("tenants:\n  a: {keys: [K], max_concurrent: -1}", "tenants.a.max_concurrent: must be a whole number"),
    ("tenants:\n  a: {keys: [K], tokens_per_minute: 1.5}", "tenants.a.tokens_per_minute: must be a whole number"),
    ("tenants:\n  a: {keys: [K], priority_classes: [urgent]}", "tenants.a.priority_classes: must list one or more"),
    ("tenants:\n  a: {keys: [K], weight: 0}", "tenants.a.weight: must be a number greater than 0"),
    ("tenants:\n  anonymous: {keys: [K]}", "tenants.anonymous: a tenant's name"),
    ("tenants:\n  'a b': {keys: [K]}", "tenants.a b: a tenant's name"),
    ("tenants:\n  a: {keys: [K]}\n  b: {keys: [K]}", r"tenants.b.keys\[0\]: the same key hash is already given to "
                                                      "tenant a"),
    ("tenants: [", "not valid YAML"),
])
def test_a_bad_file_is_refused_naming_the_field(body, message):
    with pytest.raises(TenantsError, match=message):
        parse_tenants(body.replace("K", hash_key("k")))


def test_a_key_pasted_in_place_of_its_hash_is_never_repeated_in_the_error():
    with pytest.raises(TenantsError) as refused:
        parse_tenants("tenants:\n  a: {keys: [sk-live-secret-value]}")
    assert "sk-live-secret-value" not in str(refused.value)


def test_hashes_are_sha256_of_the_key():
    assert hash_key("test") == "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def test_a_changed_file_is_picked_up_and_a_broken_one_leaves_the_tenants_as_they_were(tmp_path):
    path = tenants_file(tmp_path, two_teams())
    tenants = Tenants(str(path))

    async def main():
        stop = asyncio.Event()
        watching = asyncio.create_task(tenants.watch(stop, every_s=0.02))
        path.write_text(f"tenants:\n  newteam: {{keys: ['{hash_key('sk-new')}']}}\n")
        for _ in range(200):
            await asyncio.sleep(0.02)
            if tenants.names() == ["newteam"]:
                break
        assert tenants.authenticate("Bearer sk-new").name == "newteam"
        with pytest.raises(Unauthenticated):
            tenants.authenticate(f"Bearer {KEY_A}")  # a key taken out of the file no longer works
        path.write_text("tenants: [")
        await asyncio.sleep(0.2)
        assert tenants.authenticate("Bearer sk-new").name == "newteam"
        stop.set()
        await asyncio.wait_for(watching, 2)

    asyncio.run(main())


def test_a_bad_file_at_start_up_is_an_error(tmp_path):
    with pytest.raises(TenantsError, match="names no tenant"):
        Tenants(str(tenants_file(tmp_path, "tenants: {}")))


def test_the_cli_hashes_keys_from_stdin_and_makes_new_ones(monkeypatch, capsys):
    import io

    from cluster.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO("test\n\n  other  \n"))
    assert main(["hash-key"]) == 0
    assert capsys.readouterr().out.split() == [hash_key("test"), hash_key("other")]
    assert main(["hash-key", "--generate"]) == 0
    key, digest = capsys.readouterr().out.split()
    assert key.startswith("sk-") and len(key) >= 40 and digest == hash_key(key)


def test_validate_config_reads_the_tenants_file(tmp_path, capsys):
    from cluster.cli import main

    tenants = tenants_file(tmp_path, two_teams())
    config = tmp_path / "cluster.yaml"
    config.write_text(f"gateway:\n  tenants_file: {tenants}\n")
    assert main(["validate-config", str(config)]) == 0
    assert "2 tenant(s): chat, search" in capsys.readouterr().out
    tenants.write_text("tenants:\n  a: {keys: [sk-plain]}\n")
    assert main(["validate-config", str(config)]) == 2
    assert "tenants.a.keys[0]: not a key hash" in capsys.readouterr().err
