"""The controller's status as `oss-cluster status` prints it and the metrics export it."""

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ReplicaView:
    replica_id: str
    slot: int
    node_id: str
    pid: int
    state: str
    running: int
    waiting: int
    kv_cache_usage: float
    uptime_s: float
    restarts: int  # replicas started in its slot before it
    outdated: bool  # started from an older plan; the rollout replaces it
    error: str = ""
    ranks: int = 1  # the actors of an expert-parallel group; 1 otherwise
    nodes: tuple[str, ...] = ()  # each rank's node, once placed


@dataclass(frozen=True)
class SlotView:
    slot: int
    failures: int  # failed starts in a row
    retry_in_s: float
    given_up: str


@dataclass(frozen=True)
class ClusterStatus:
    plan: str  # the digest of the running plan
    desired: int
    replicas: tuple[ReplicaView, ...]
    slots: tuple[SlotView, ...]  # only slots with failed starts
    policy: str  # the autoscaling policy; empty: fixed count
    decision: str  # the autoscaler's last decision and its reason
    decided_at: float  # wall-clock seconds; 0: never
    controller_pid: int
    controller_started_at: float
    step_s: float = 0.0  # how long the controller's last observe → decide → act step took

    def count(self, state: str) -> int:
        return sum(1 for r in self.replicas if r.state == state)


def render(status: ClusterStatus, now: float | None = None) -> str:
    now = time.time() if now is None else now
    ready = status.count("ready")
    lines = [f"replicas: {ready} ready of {status.desired} desired (plan {status.plan}); controller pid "
             f"{status.controller_pid}, up {_duration(now - status.controller_started_at)}"]
    if status.policy:
        ago = f" ({_duration(now - status.decided_at)} ago)" if status.decided_at else ""
        lines.append(f"autoscaling: {status.policy}; last decision{ago}: {status.decision or 'none yet'}")
    else:
        lines.append("autoscaling: off (a fixed count)")
    header = ("REPLICA", "SLOT", "NODE", "STATE", "RUNNING", "WAITING", "KV %", "UPTIME", "RESTARTS")
    rows = [header] + [(r.replica_id + (f" ({r.ranks} ranks)" if r.ranks > 1 else ""), str(r.slot), _nodes(r),
                        r.state + (" (outdated)" if r.outdated else ""),
                        str(r.running), str(r.waiting), f"{100 * r.kv_cache_usage:.1f}",
                        _duration(r.uptime_s), str(r.restarts)) for r in status.replicas]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    for r in status.replicas:
        if r.error:
            lines.append(f"replica {r.replica_id}: {r.error}")
    for s in status.slots:
        if s.given_up:
            lines.append(f"slot {s.slot}: given up: {s.given_up}")
        else:
            lines.append(f"slot {s.slot}: {s.failures} failed start(s) in a row; next try in {s.retry_in_s:.0f} s")
    return "\n".join(lines)


def _nodes(r: ReplicaView) -> str:
    """The node, or for a group spread over several how many."""
    spread = len(set(r.nodes))
    return f"{spread} nodes" if spread > 1 else (r.node_id[:12] or "-")


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
