"""A replica that cannot start is retried with back-off, then its slot is given up, saying why."""

import json
import shutil
import subprocess
import sys

import pytest

from cluster.tinymodel import ensure_tiny_model
from loadtest.local_cluster import serving
from tests.e2e.conftest import Cluster, wait_for

pytestmark = pytest.mark.e2e

PLAN = "lifecycle:\n  max_start_failures: 2\n  start_backoff_s: 1\n  health_period_s: 0.5\n"


def test_a_slot_whose_replica_fails_to_start_is_given_up_after_its_budget(tmp_path):
    cache = tmp_path.parent / "cache"
    broken = tmp_path / "broken-model"
    shutil.copytree(ensure_tiny_model(cache / "models"), broken)
    config = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps(config | {"architectures": ["NoSuchModelForCausalLM"]}))
    yaml = f"model:\n  path: {broken}\n  name: broken\ndevice: cpu\nengine:\n  enforce_eager: true\n" \
           f"  kv_cache_memory_bytes: 67108864\n  max_model_len: 4096\n  max_num_seqs: 4\n" + PLAN
    with serving(tmp_path, "", yaml, cache, start_timeout_s=180, ready_line="gRPC on") as local:
        cluster = Cluster(**{f: getattr(local, f) for f in local.__dataclass_fields__})

        def given_up():
            done = subprocess.run([sys.executable, "-m", "cluster.cli", "status"], env=cluster.env(),
                                  capture_output=True, text=True, timeout=60)
            return done.stdout if "given up" in done.stdout else None

        text = wait_for(given_up, 240, "the slot to be given up", interval_s=2)
        assert "slot 0: given up: 2 failed starts in a row; the last:" in text
        assert "NoSuchModelForCausalLM" in text
        # the controller's metrics are exported every 2 s: the status can say it first
        wait_for(lambda: cluster.metric("oss_cluster_replica_slots_given_up") == 1, 10, "the given-up metric")
        assert cluster.metric("oss_cluster_replica_start_failures", slot="0") == 2
        assert cluster.metric("oss_cluster_replicas", state="ready") == 0
