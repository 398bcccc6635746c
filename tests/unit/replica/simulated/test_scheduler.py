from cluster.replica.engines.simulated.blocks import BlockCache
from cluster.replica.engines.simulated.scheduler import Scheduler, Sequence


def seq(rid: str, prompt: int, start: int = 1, priority: int = 0) -> Sequence:
    return Sequence(rid, list(range(start, start + prompt)), prompt, priority=priority)


def run_step(scheduler: Scheduler) -> list[Sequence]:
    step = scheduler.schedule()
    sampled = scheduler.complete(step)
    for s in sampled:
        s.token_ids.append(7)
    return sampled


def test_long_prompts_are_prefilled_in_chunks_under_the_token_budget():
    scheduler = Scheduler(BlockCache(64, 16), max_num_seqs=8, max_num_batched_tokens=100)
    a = seq("a", 250)
    scheduler.add(a)
    steps = []
    while not a.output_len:
        steps.append(scheduler.schedule())
        for s in scheduler.complete(steps[-1]):
            s.token_ids.append(7)
    assert [s.prefill_tokens for s in steps] == [100, 100, 50]
    decode = scheduler.schedule()
    assert decode.decode_seqs == 1 and decode.prefill_tokens == 0 and decode.context_tokens == 251


def test_running_sequences_decode_before_waiting_ones_are_admitted():
    scheduler = Scheduler(BlockCache(64, 16), max_num_seqs=2, max_num_batched_tokens=64)
    a, b, c = seq("a", 32), seq("b", 32, 100), seq("c", 32, 200)
    for s in (a, b, c):
        scheduler.add(s)
    first = scheduler.schedule()
    assert [s.request_id for s, _ in first.work] == ["a", "b"]  # the budget holds two prompts
    scheduler.complete(first)
    for s in (a, b):
        s.token_ids.append(7)
    second = scheduler.schedule()
    assert [(s.request_id, n) for s, n in second.work] == [("a", 1), ("b", 1)]  # max_num_seqs: c waits
    assert scheduler.waiting == 1


def test_lower_priority_waits_and_is_preempted_first():
    scheduler = Scheduler(BlockCache(4, 16), max_num_seqs=8, max_num_batched_tokens=1000)
    batch, urgent = seq("batch", 30, priority=5), seq("urgent", 30, 100, priority=0)
    scheduler.add(batch)
    run_step(scheduler)
    scheduler.add(urgent)
    run_step(scheduler)  # both run: each holds 2 of the 4 blocks
    assert scheduler.cache.free_blocks == 0
    while batch.preemptions == 0:  # the next block someone needs is taken from batch, the lower priority
        run_step(scheduler)
    assert urgent in scheduler.running and batch not in scheduler.running
    assert batch.computed == 0 and scheduler.waiting == 1


def test_a_preempted_sequence_computes_again_what_the_cache_lost_its_output_included():
    scheduler = Scheduler(BlockCache(3, 16), max_num_seqs=8, max_num_batched_tokens=1000)
    a, b = seq("a", 16), seq("b", 16, 100)
    scheduler.add(a)
    scheduler.add(b)
    while b.preemptions == 0:
        run_step(scheduler)
    assert b.output_len > 0 and b.computed == 0
    scheduler.remove(a)
    step = scheduler.schedule()
    assert b.cached_blocks >= 1  # its full blocks stayed cached after it let go of them
    assert step.work == ((b, len(b.token_ids) - 16 * b.cached_blocks),)


def test_shared_prefixes_hit_the_cache_and_are_counted():
    scheduler = Scheduler(BlockCache(64, 16), max_num_seqs=8, max_num_batched_tokens=1000)
    first = seq("first", 64)
    scheduler.add(first)
    run_step(scheduler)
    scheduler.remove(first)
    second = Sequence("second", list(range(1, 49)) + [900] * 16, 64)
    scheduler.add(second)
    step = scheduler.schedule()
    assert step.work == ((second, 16),)  # three blocks of 16 came from the cache
    assert (scheduler.cache.queries, scheduler.cache.hits) == (128, 48)


def test_an_aborted_sequence_leaves_even_in_the_middle_of_a_step():
    scheduler = Scheduler(BlockCache(8, 16), max_num_seqs=8, max_num_batched_tokens=1000)
    a = seq("a", 40)
    scheduler.add(a)
    step = scheduler.schedule()
    scheduler.remove(a)
    assert scheduler.complete(step) == [] and scheduler.cache.free_blocks == 8 and not scheduler.has_work()
