import asyncio
import json
from dataclasses import replace

import pytest

from cluster.config import ConfigError
from cluster.errors import InvalidRequest
from cluster.harmony.parse import ChatParser
from cluster.replica.engines.simulated.engine import SimulatedEngine, SimulatedSettings
from cluster.replica.engines.simulated.timing import load_calibration
from cluster.types import EngineRequest, FinishReason


def calibration_file(tmp_path, **changes) -> str:
    calibration = replace(load_calibration("instant"), name="test", **changes)
    path = tmp_path / "test.json"
    path.write_text(calibration.to_json())
    return str(path)


def settings(calibration: str = "instant", **changes) -> SimulatedSettings:
    return replace(SimulatedSettings(calibration=calibration, max_model_len=2048, max_num_seqs=8,
                                     max_num_batched_tokens=512, reply_tokens=40), **changes)


def request(rid: str, prompt: int = 20, **changes) -> EngineRequest:
    return replace(EngineRequest(request_id=rid, prompt_token_ids=list(range(1, prompt + 1)), max_tokens=200),
                   **changes)


async def collect(engine, req) -> tuple[list[int], FinishReason]:
    tokens, finish = [], None
    async for chunk in engine.generate(req):
        tokens += chunk.token_ids
        finish = chunk.finish
    return tokens, finish


async def started(s: SimulatedSettings) -> SimulatedEngine:
    engine = SimulatedEngine(s)
    await engine.start()
    return engine


async def test_a_reply_streams_as_well_formed_harmony_and_stops_on_return():
    engine = await started(settings())
    tokens, finish = await collect(engine, request("a", seed=3))
    assert finish is FinishReason.STOP and tokens[-1] == 200002
    parser = ChatParser()
    parser.feed(tokens)
    assert parser.outcome is FinishReason.STOP
    again, _ = await collect(engine, request("b", seed=3))
    assert again == tokens  # seeded
    engine.shutdown()


async def test_max_tokens_min_tokens_and_ignore_eos_are_honoured():
    engine = await started(settings())
    tokens, finish = await collect(engine, request("a", max_tokens=5))
    assert (len(tokens), finish) == (5, FinishReason.LENGTH)
    tokens, finish = await collect(engine, request("b", max_tokens=300, ignore_eos=True))
    assert (len(tokens), finish) == (300, FinishReason.LENGTH)
    tokens, finish = await collect(engine, request("c", max_tokens=300, min_tokens=120))
    assert finish is FinishReason.STOP and len(tokens) >= 121
    words = [t for t in tokens if t < 199_998]
    tokens, finish = await collect(engine, request("d", max_tokens=300, stop_token_ids=(words[0],), seed=None))
    assert finish is FinishReason.STOP
    engine.shutdown()


async def test_bad_requests_are_refused_as_invalid():
    engine = await started(settings())
    with pytest.raises(InvalidRequest, match="prompt has 2048 tokens"):
        await collect(engine, request("a", prompt=2048))
    with pytest.raises(InvalidRequest, match="max_tokens"):
        await collect(engine, request("b", max_tokens=0))
    engine.shutdown()


async def test_a_cancelled_stream_frees_its_slot_and_blocks(tmp_path):
    engine = await started(settings(calibration_file(tmp_path, base_s=0.01)))
    stream = engine.generate(request("a", max_tokens=1000, ignore_eos=True))
    await anext(stream)
    assert engine.load().running == 1 and engine.load().kv_cache_usage > 0
    await stream.aclose()
    assert engine.load().running == 0 and engine.load().kv_cache_usage == 0
    task = asyncio.ensure_future(collect(engine, request("b", max_tokens=1000, ignore_eos=True)))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert engine.load().running == 0
    engine.shutdown()


async def test_steps_take_the_calibrated_time_and_batch_streams(tmp_path):
    engine = await started(settings(calibration_file(tmp_path, base_s=0.005)))
    loop = asyncio.get_running_loop()
    began = loop.time()
    results = await asyncio.gather(*(collect(engine, request(str(i), max_tokens=40, ignore_eos=True))
                                     for i in range(8)))
    elapsed = loop.time() - began
    assert all(len(tokens) == 40 for tokens, _ in results)
    assert 0.2 <= elapsed < 2.0  # 40 steps of 5 ms for all eight together, not 8 × 40
    engine.shutdown()


async def test_load_reports_waiting_running_and_prefix_hits(tmp_path):
    engine = await started(settings(calibration_file(tmp_path, base_s=0.002), max_num_seqs=2))
    streams = [engine.generate(request(str(i), prompt=64, max_tokens=1000, ignore_eos=True)) for i in range(3)]
    await anext(streams[0])  # its prompt is computed and cached: the same prompt after it hits the cache
    later = [asyncio.ensure_future(anext(s)) for s in streams[1:]]
    await asyncio.wait(later, timeout=1)
    load = engine.load()
    assert (load.running, load.waiting) == (2, 1)
    assert (load.prefix_cache_queries, load.prefix_cache_hits) == (128, 48)
    assert load.kv_blocks == 65536 and load.block_size == 16
    for f in later:
        f.cancel()
    await asyncio.gather(*later, return_exceptions=True)
    for s in streams:
        await s.aclose()
    engine.shutdown()


async def test_a_kv_cache_smaller_than_the_context_is_refused_at_start(tmp_path):
    engine = SimulatedEngine(settings(calibration_file(tmp_path, kv_cache_tokens={"bf16": 1024})))
    with pytest.raises(ConfigError, match="max_model_len: 2048 is more than the 1024 tokens"):
        await engine.start()


async def test_health_fails_once_stopped():
    engine = await started(settings())
    await engine.check_health()
    engine.shutdown()
    await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError, match="step loop ended"):
        await engine.check_health()


def test_the_calibration_file_round_trips(tmp_path):
    path = calibration_file(tmp_path, base_s=0.5)
    assert json.loads(open(path).read())["base_s"] == 0.5


async def test_time_scale_stretches_every_step(tmp_path):
    calibration = calibration_file(tmp_path, base_s=0.002)
    timings = []
    for scale in (1.0, 5.0):
        engine = await started(settings(calibration, time_scale=scale))
        loop = asyncio.get_running_loop()
        began = loop.time()
        await collect(engine, request("a", max_tokens=30, ignore_eos=True))
        timings.append(loop.time() - began)
        engine.shutdown()
    assert timings[1] > 3 * timings[0]


async def test_the_trace_has_a_line_per_request_with_engine_times(tmp_path):
    trace = tmp_path / "trace.jsonl"
    engine = await started(settings(calibration_file(tmp_path, base_s=0.002), trace_file=str(trace)))
    await collect(engine, request("a", max_tokens=10, ignore_eos=True, seed=4))
    stream = engine.generate(request("b", max_tokens=1000, ignore_eos=True, seed=5))
    await anext(stream)
    await stream.aclose()
    engine.shutdown()
    await asyncio.sleep(0.01)
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [(x["seed"], x["finish"]) for x in lines] == [(4, "length"), (5, "aborted")]
    assert lines[0]["output_tokens"] == 10 and lines[1]["output_tokens"] >= 1
    a = lines[0]
    assert a["arrival"] < a["first_token"] < a["ended"] and a["prompt_tokens"] == 20


async def test_starting_takes_the_calibrated_start_unless_the_config_says_otherwise(tmp_path):
    calibration = calibration_file(tmp_path, start_s=0.2)
    loop = asyncio.get_running_loop()
    for start_s, least, most in ((None, 0.2, 5.0), (0.0, 0.0, 0.1)):
        began = loop.time()
        engine = await started(settings(calibration, start_s=start_s))
        assert least <= loop.time() - began < most
        engine.shutdown()
