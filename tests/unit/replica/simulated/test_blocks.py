from cluster.replica.engines.simulated.blocks import BlockCache


def test_a_shared_prefix_is_found_and_the_last_token_is_left_to_compute():
    cache = BlockCache(num_blocks=8, block_size=4)
    first = list(range(1, 13))  # three full blocks
    held: list[int] = []
    assert cache.allocate(held, len(first))
    cache.cache(held, cache.hashes(first), 0)
    cache.release(held)
    second = first[:8] + [99, 98, 97, 96]
    found = cache.lookup(cache.hashes(second), len(second))
    assert len(found) == 2  # the third block differs
    again = cache.lookup(cache.hashes(first), len(first))
    assert len(again) == 2  # all three cached, but the last token must be computed: only 2 full blocks before it


def test_allocation_takes_nothing_when_too_few_blocks_are_free():
    cache = BlockCache(num_blocks=3, block_size=4)
    a, b = [], []
    assert cache.allocate(a, 8)
    assert not cache.allocate(b, 8)
    assert b == [] and cache.free_blocks == 1
    cache.release(a)
    assert cache.free_blocks == 3 and cache.usage() == 0.0


def test_freed_blocks_stay_cached_until_taken_least_recently_freed_first():
    cache = BlockCache(num_blocks=4, block_size=2)
    old, new = [1, 2, 3, 4], [5, 6, 7, 8]
    for tokens in (old, new):
        held = []
        cache.allocate(held, 4)
        cache.cache(held, cache.hashes(tokens), 0)
        cache.release(held)
    taken = []
    cache.allocate(taken, 4)  # two blocks: the two freed first, which are old's
    assert cache.lookup(cache.hashes(old), 5) == []
    assert len(cache.lookup(cache.hashes(new), 5)) == 2


def test_held_blocks_are_shared_not_copied():
    cache = BlockCache(num_blocks=4, block_size=2)
    tokens = [1, 2, 3, 4, 5]
    held = []
    cache.allocate(held, 5)
    cache.cache(held, cache.hashes(tokens), 0)
    other = cache.lookup(cache.hashes(tokens), 5)
    assert other == held[:2]
    cache.release(held)
    assert cache.free_blocks == 2  # the last block is free again; the two shared ones are still held by `other`
    cache.release(other)
    assert cache.free_blocks == 4
