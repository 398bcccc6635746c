from cluster.config import LifecycleConfig
from cluster.controller.backoff import failure_reason, start_failed, start_succeeded, started
from cluster.controller.reconcile import SlotStatus

LIFE = LifecycleConfig(start_backoff_s=5, start_backoff_max_s=30, max_start_failures=4)


def test_each_failure_doubles_the_wait_up_to_the_maximum():
    slot, waits = SlotStatus(), []
    for now in (100.0, 200.0, 300.0):
        slot = start_failed(slot, now, "OOM", LIFE)
        waits.append(slot.retry_at - now)
    assert waits == [5, 10, 20] and not slot.given_up
    assert start_failed(SlotStatus(failures=7), 0.0, "x", LifecycleConfig(start_backoff_s=5, start_backoff_max_s=30,
                                                                           max_start_failures=100)).retry_at == 30


def test_the_slot_is_given_up_after_the_budget_with_the_last_error_as_the_reason():
    slot = SlotStatus()
    for _ in range(4):
        slot = start_failed(slot, 0.0, "RuntimeError: no CUDA device", LIFE)
    assert slot.given_up == "4 failed starts in a row; the last: RuntimeError: no CUDA device"


def test_a_success_resets_the_budget_and_starts_are_counted():
    slot = start_succeeded(started(start_failed(started(SlotStatus()), 0.0, "x", LIFE)))
    assert (slot.failures, slot.retry_at, slot.given_up, slot.starts) == (0, 0.0, "", 2)


def test_the_reason_is_the_line_that_names_the_error_not_the_traceback_around_it():
    crossed_ray = ("ray::ReplicaActor.start() (pid=1, ip=127.0.0.1)\nTraceback (most recent call last):\n"
                   '  File "python/ray/_raylet.pyx", line 2205, in ray._raylet.execute_task\n'
                   "pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig\n"
                   "  Value error, Model architectures ['Nope'] are not supported for now. [type=value_error]\n"
                   "    For further information visit https://errors.pydantic.dev/2.14/v/value_error")
    assert failure_reason(RuntimeError(crossed_ray)) == ("Value error, Model architectures ['Nope'] are not "
                                                         "supported for now. [type=value_error]")
    assert failure_reason(TimeoutError()) == "timed out"
    assert failure_reason(ValueError("")) == "ValueError"
    assert len(failure_reason(RuntimeError("OSError: " + "x" * 1000))) == 300
