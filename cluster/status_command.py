"""`oss-cluster status`: asks the cluster's controller and prints what it holds."""

import asyncio
import dataclasses
import json
import os
import sys
from pathlib import Path

import ray

from cluster.controller.connect import ControllerError, find_controller
from cluster.controller.status import render
from cluster.ray_join import STATE_FILE, join_ray

CALL_TIMEOUT_S = 15.0


def print_status(address: str, cache_dir: Path, as_json: bool) -> int:
    if not address:
        address = _embedded_address(cache_dir)
        if not address:
            print("oss-cluster: no `oss-cluster serve` runs on this machine; give --address or --config",
                  file=sys.stderr)
            return 1
    join_ray(address)
    try:
        status = asyncio.run(_status())
    except (ControllerError, TimeoutError) as exc:
        print(f"oss-cluster: {exc or 'the controller did not answer in time'}", file=sys.stderr)
        return 1
    finally:
        ray.shutdown()
    print(json.dumps(dataclasses.asdict(status), indent=2) if as_json else render(status))
    return 0


async def _status():
    controller = await find_controller(0)
    return await asyncio.wait_for(controller.status.remote(), CALL_TIMEOUT_S)


def _embedded_address(cache_dir: Path) -> str:
    """The Ray address the embedded default on this machine wrote at start, if its process still runs."""
    try:
        state = json.loads((cache_dir / STATE_FILE).read_text())
        os.kill(state["pid"], 0)
    except (OSError, ValueError, KeyError):
        return ""
    return state["ray_address"]
