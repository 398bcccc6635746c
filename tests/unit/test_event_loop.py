"""The roles run on Python's event loop, and on uvloop's when told to."""

import asyncio

import uvloop

from cluster.cli import _run_role


def _role_loop(monkeypatch, setting: str | None) -> type:
    if setting is None:
        monkeypatch.delenv("OSS_CLUSTER_LOOP", raising=False)
    else:
        monkeypatch.setenv("OSS_CLUSTER_LOOP", setting)
    seen = []

    async def role():
        seen.append(type(asyncio.get_running_loop()))

    assert _run_role(role()) == 0
    return seen[0]


def test_roles_run_on_pythons_loop_by_default(monkeypatch):
    loop = _role_loop(monkeypatch, None)
    assert not issubclass(loop, uvloop.Loop) and issubclass(loop, asyncio.AbstractEventLoop)


def test_uvloop_when_asked(monkeypatch):
    assert issubclass(_role_loop(monkeypatch, "uvloop"), uvloop.Loop)
