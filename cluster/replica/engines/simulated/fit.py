"""Fits a calibration's step-time parameters to measured offline runs of vLLM, and reports the error.

A measured point is an offline run: `requests` prompts of `prompt_tokens` (no shared prefixes)
submitted at once, each generating exactly `output_tokens`, and the output tokens per second vLLM
reached. Submitted at once, the run's schedule does not depend on the step times, so the wall time
is linear in the parameters: the scheduler is replayed once per point to total its steps, prefill
tokens, decoding sequences and context tokens, and the parameters are the non-negative least
squares fit of the relative error of the wall times (`timing.py` says what the parameters are).

    python -m cluster.replica.engines.simulated.fit h100-gpt-oss-120b   # refits a shipped calibration
"""

import argparse
import itertools
import sys
from dataclasses import dataclass, replace

import numpy as np

from cluster.replica.engines.simulated.blocks import BlockCache
from cluster.replica.engines.simulated.scheduler import Scheduler, Sequence
from cluster.replica.engines.simulated.timing import CALIBRATIONS, FEATURES, Calibration, load_calibration


@dataclass(frozen=True)
class Point:
    requests: int
    prompt_tokens: int
    output_tokens: int
    output_tokens_per_s: float
    kv_cache_dtype: str = "bf16"
    max_num_seqs: int = 1024
    max_num_batched_tokens: int = 16384
    ttft_p50_s: float | None = None  # when measured: reported beside the fit, not fitted

    def wall_s(self) -> float:
        return self.requests * self.output_tokens / self.output_tokens_per_s


@dataclass(frozen=True)
class Replay:
    features: tuple[float, ...]  # the totals over the run's steps of `Calibration.features`
    first_token: list[tuple[float, ...]]  # the same totals up to each request's first token
    preemptions: int


def replay(point: Point, calibration: Calibration) -> Replay:
    """Runs the point's workload through the scheduler, totalling what step times depend on."""
    cache = BlockCache(calibration.kv_tokens(point.kv_cache_dtype) // calibration.block_size, calibration.block_size)
    scheduler = Scheduler(cache, point.max_num_seqs, point.max_num_batched_tokens)
    seqs = []
    for r in range(point.requests):  # distinct prompts: no prefix is shared
        prompt = [(r * point.prompt_tokens + i) % 199_000 + 1 for i in range(point.prompt_tokens)]
        seqs.append(Sequence(str(r), prompt, point.prompt_tokens))
        scheduler.add(seqs[-1])
    totals, first = np.zeros(len(FEATURES)), {}
    while scheduler.has_work():
        step = scheduler.schedule()
        if step.empty:
            raise RuntimeError(f"{point}: nothing can be scheduled; the KV cache is too small for one request")
        totals += calibration.features(step.prefill_tokens, step.decode_seqs, step.context_tokens)
        for seq in scheduler.complete(step):
            seq.token_ids.append(1)
            first.setdefault(seq.request_id, tuple(totals))
            if seq.output_len >= point.output_tokens:
                scheduler.remove(seq)
    return Replay(tuple(totals), [first[s.request_id] for s in seqs], scheduler.preemptions)


def fit(points: list[Point], calibration: Calibration) -> Calibration:
    """The calibration with the step-time parameters that fit `points` best, and each point's error."""
    replays = [replay(p, calibration) for p in points]
    a = np.array([r.features for r in replays]) / np.array([[p.wall_s()] for p in points])
    theta = _nonnegative_least_squares(a, np.ones(len(points)))
    fitted = replace(calibration, **dict(zip(FEATURES, (float(x) for x in theta))))
    rows = []
    for p, r in zip(points, replays):
        wall = float(np.dot(r.features, theta))
        predicted = p.requests * p.output_tokens / wall
        row = {**p.__dict__, "predicted_output_tokens_per_s": round(predicted, 2),
               "error": round(predicted / p.output_tokens_per_s - 1, 4), "preemptions": r.preemptions}
        if p.ttft_p50_s is not None:
            row["predicted_ttft_p50_s"] = round(float(np.median([np.dot(f, theta) for f in r.first_token])), 4)
        rows.append(row)
    return replace(fitted, points=rows)


def _nonnegative_least_squares(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """min |a·x − b| with x ≥ 0, exactly: the best feasible least-squares solution over every set of
    free parameters (five parameters: 31 sets)."""
    best, best_err = np.zeros(a.shape[1]), float(np.sum(b * b))
    for k in range(1, a.shape[1] + 1):
        for free in itertools.combinations(range(a.shape[1]), k):
            x_free, *_ = np.linalg.lstsq(a[:, free], b, rcond=None)
            if np.any(x_free < 0):
                continue
            x = np.zeros(a.shape[1])
            x[list(free)] = x_free
            err = float(np.sum((a @ x - b) ** 2))
            if err < best_err:
                best, best_err = x, err
    return best


def points_of(rows: list[dict]) -> list[Point]:
    """The measured points of a calibration's rows (which also hold the fit's figures)."""
    return [Point(**{k: v for k, v in row.items() if k in Point.__dataclass_fields__}) for row in rows]


def report(calibration: Calibration) -> str:
    lines = [f"{calibration.name}: " + ", ".join(f"{f} {getattr(calibration, f):.3g}" for f in FEATURES),
             f"{'requests':>8} {'prompt':>6} {'output':>6} {'kv':>4} {'measured tok/s':>14} {'fitted':>8} "
             f"{'error':>7} {'preempted':>9}"]
    for row in calibration.points:
        lines.append(f"{row['requests']:>8} {row['prompt_tokens']:>6} {row['output_tokens']:>6} "
                     f"{row['kv_cache_dtype']:>4} {row['output_tokens_per_s']:>14.1f} "
                     f"{row['predicted_output_tokens_per_s']:>8.1f} {row['error']:>+7.1%} {row['preemptions']:>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Refit a calibration to its points; print each point's error.")
    parser.add_argument("calibration", help="a shipped calibration's name or a .json path")
    parser.add_argument("--write", action="store_true", help="write the fitted parameters back to the file")
    args = parser.parse_args(argv)
    calibration = load_calibration(args.calibration)
    fitted = fit(points_of(calibration.points), calibration)
    print(report(fitted))
    if args.write:
        path = args.calibration if args.calibration.endswith(".json") else CALIBRATIONS / f"{args.calibration}.json"
        with open(path, "w") as f:
            f.write(fitted.to_json())
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
