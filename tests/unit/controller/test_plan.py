import dataclasses

from cluster.config import embedded_default, parse_config
from cluster.controller.plan import differing_fields, plan_from_config


def plan(raw: dict | None = None):
    return plan_from_config(parse_config(raw or {}), "/models/tiny")


def test_the_same_config_gives_the_same_digest_and_gateway_settings_do_not_count():
    assert plan().digest() == plan({"gateway": {"grpc_port": 6000, "request_timeout_s": 5}}).digest()
    assert plan_from_config(embedded_default(), "/m").digest() == plan_from_config(embedded_default(), "/m").digest()


def test_differences_are_named_by_their_dotted_path_with_both_values():
    running, wanted = plan(), plan({"engine": {"max_num_seqs": 8}, "lifecycle": {"stuck_after_s": 5}})
    assert running.digest() != wanted.digest()
    assert differing_fields(running.fields(), wanted.fields()) == [
        "lifecycle.stuck_after_s: 60.0 → 5.0", "replica.settings.max_num_seqs: 16 → 8"]


def test_only_a_change_of_what_a_replica_is_changes_the_template():
    base = plan()
    assert plan({"replicas": 3}).template() == base.template()
    assert plan({"lifecycle": {"drain_grace_s": 1}}).template() == base.template()
    assert plan({"engine": {"max_model_len": 4096}}).template() != base.template()
    assert dataclasses.replace(base, replica=dataclasses.replace(base.replica, gpus=1)).template() != base.template()


def test_autoscaling_params_are_one_field():
    fields = plan({"autoscaling": {"policy": "queue-depth", "params": {"target": 2}}}).fields()
    assert fields["autoscaling.params"] == {"target": 2.0} and fields["autoscaling.policy"] == "queue-depth"
