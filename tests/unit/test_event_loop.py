"""The roles run on uvloop's event loop where it is installed, and on asyncio's when told to."""

import asyncio

import uvloop

from cluster.cli import _run_role


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


def _role_loop(monkeypatch, setting: str | None) -> type:
    if setting is None:
        monkeypatch.delenv("OSS_CLUSTER_LOOP", raising=False)
    else:
        monkeypatch.setenv("OSS_CLUSTER_LOOP", setting)
    seen = []

    async def role():
        seen.append(await _loop_type())

    assert _run_role(role()) == 0
    return seen[0]


def test_roles_run_on_uvloop_by_default(monkeypatch):
    assert issubclass(_role_loop(monkeypatch, None), uvloop.Loop)


def test_asyncio_loop_when_asked(monkeypatch):
    loop = _role_loop(monkeypatch, "asyncio")
    assert not issubclass(loop, uvloop.Loop)
    assert issubclass(loop, asyncio.AbstractEventLoop)
