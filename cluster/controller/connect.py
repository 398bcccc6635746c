"""Reaching the cluster's one controller from a role (serve, controller, gateway, status)."""

import asyncio
import time

import ray

from cluster.controller.controller import CONTROLLER_NAME, NAMESPACE, Controller
from cluster.controller.plan import ClusterPlan, differing_fields

FIND_POLL_S = 1.0


class ControllerError(Exception):
    """The controller cannot be reached, or runs another plan; the message says what to do."""


async def ensure_controller(plan: ClusterPlan, apply: bool):
    """The running controller, created with `plan` if there is none. One that runs another plan is
    refused naming the differing fields, unless `apply`, which rolls `plan` out."""
    handle = Controller.options(name=CONTROLLER_NAME, namespace=NAMESPACE, lifetime="detached",
                                get_if_exists=True,
                                # on the head node: gateway pods are nodes too, and come and go
                                resources={"node:__internal_head__": 0.001}).remote(plan)
    await check_plan(handle, plan, apply)
    return handle


async def find_controller(wait_s: float, missing_ok: bool = False):
    """The running controller; waits up to `wait_s` for one to appear (pods start in any order).
    Then raises ControllerError, or returns None if `missing_ok`."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return ray.get_actor(CONTROLLER_NAME, namespace=NAMESPACE)
        except ValueError:
            if time.monotonic() >= deadline:
                if missing_ok:
                    return None
                raise ControllerError(f"no controller in the Ray cluster after {wait_s:.0f} s; start one with "
                                      "`oss-cluster controller --config FILE`") from None
        await asyncio.sleep(FIND_POLL_S)


async def check_plan(handle, plan: ClusterPlan, apply: bool) -> list[str]:
    """Compares `plan` with the controller's by digest; returns the fields `apply` changed."""
    digest, fields = await handle.plan.remote()
    if digest == plan.digest():
        return []
    differences = differing_fields(fields, plan.fields())
    if not apply:
        raise ControllerError("the cluster runs another plan than this config's; differing fields (running → "
                              "this config): " + "; ".join(differences) + ". Start with --apply to roll this "
                              "config out, or use the running cluster's config")
    return await handle.apply.remote(plan)
