from cluster.router.prefix_index import PrefixIndex, block_hashes


def test_chained_hashes_cover_full_blocks_and_everything_before():
    a = block_hashes([1, 2, 3, 4, 5, 6, 7, 8, 9], 4)
    assert len(a) == 2  # the ninth token is not a full block
    assert block_hashes([1, 2, 3, 4, 5, 6, 7, 8], 4) == a
    b = block_hashes([0, 2, 3, 4, 5, 6, 7, 8], 4)
    assert a[0] != b[0] and a[1] != b[1]  # a different first block changes every later hash
    assert block_hashes([1, 2, 3], 4) == []


def test_hit_partial_hit_and_miss():
    index = PrefixIndex(100)
    system = list(range(16))
    index.insert("r1", block_hashes(system + [100, 101, 102, 103], 4))
    assert index.matched_blocks("r1", block_hashes(system + [100, 101, 102, 103], 4)) == 5
    assert index.matched_blocks("r1", block_hashes(system + [7, 7, 7, 7], 4)) == 4  # shares the system prompt
    assert index.matched_blocks("r1", block_hashes([9] + system, 4)) == 0
    assert index.matched_blocks("r2", block_hashes(system, 4)) == 0


def test_eviction_drops_least_recent_tails_before_shared_heads():
    index = PrefixIndex(6)
    shared = list(range(8))  # two blocks every prompt starts with
    first = block_hashes(shared + [50] * 8, 4)
    second = block_hashes(shared + [60] * 8, 4)
    index.insert("r", first)
    index.insert("r", second)  # 6 distinct blocks: at the bound
    third = block_hashes(shared + [70] * 8, 4)
    index.insert("r", third)  # 2 new blocks: the two oldest entries go, the tails of the first prompt
    assert index.size("r") == 6
    assert index.matched_blocks("r", first) == 2
    assert index.matched_blocks("r", second) == 4 and index.matched_blocks("r", third) == 4


def test_memory_is_bounded_per_replica_and_by_the_engine_capacity():
    index = PrefixIndex(50)
    for i in range(40):
        index.insert("r", block_hashes([i] * 40, 4))
    assert index.size("r") == 50
    index.set_engine_capacity("r", 20)
    assert index.size("r") == 20
    index.insert("s", block_hashes(list(range(400)), 4))
    assert index.size("s") == 50 and index.size() == 70
    index.forget("r")
    assert index.size("r") == 0 and index.replicas() == {"s"}
