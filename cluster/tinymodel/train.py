"""Trains the tiny model on the synthetic Harmony corpus: deterministic from a seed, on the CPU.

    python -m cluster.tinymodel.train [--steps N] [--out cluster/tinymodel/tiny-gpt-oss.safetensors]

reproduces the shipped compact weights (the same tensors on the same CPU type and thread count;
on another CPU floating-point rounding differs a little). Only the completion tokens are learned.
"""

import argparse
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

from cluster.harmony.parse import RETURN
from cluster.harmony.render import render_chat
from cluster.harmony.vocab import harmony_encoding
from cluster.tinymodel import compact, corpus

SEED = 0
EXAMPLES = 24_000
THREADS = 2
TOKENS_PER_BATCH = 6_144  # padded tokens
LEARNING_RATE, WARMUP_STEPS, FINAL_LR_FRACTION = 3e-3, 60, 0.05


@dataclass(frozen=True)
class Sequence:
    ids: tuple[int, ...]  # full vocabulary ids: the prompt, then the reply
    prompt_tokens: int


def sequence(example: corpus.Example) -> Sequence:
    """The example as the engine sees it: the rendered prompt, then the reply ending in <|return|> or <|call|>."""
    prompt = render_chat(example.request)
    return Sequence(tuple(prompt + reply_tokens(example)), len(prompt))


def reply_tokens(example: corpus.Example) -> list[int]:
    encoding, tokens = harmony_encoding(), []
    for message in example.reply:
        tokens += encoding.render(message)
    tokens = tokens[2:]  # the prompt already ends with <|start|>assistant
    if example.reply[-1].channel == "final":
        tokens[-1] = RETURN  # the turn's end, not a message's
    return tokens


def vocabulary(examples: list[corpus.Example], sequences: list[Sequence]) -> list[int]:
    """Every full id the corpus uses, in order; the noise examples left out (they stand for unknowns)."""
    return sorted({token for s, e in zip(sequences, examples) if e.kind != "noise" for token in s.ids})


def train(steps: int, out: Path, examples: int = EXAMPLES, log=print) -> None:
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)  # else parallel reductions differ from run to run in the last bits
    started = time.monotonic()
    conversations = corpus.examples(corpus.TRAINING_SEED, examples)
    sequences = [sequence(e) for e in conversations]
    rows = vocabulary(conversations, sequences)
    index = {token: i for i, token in enumerate(rows)}
    unknown = len(rows)
    log(f"corpus: {len(sequences)} conversations, {sum(len(s.ids) for s in sequences)} tokens, "
        f"vocabulary {len(rows)} rows + unknown ({time.monotonic() - started:.1f} s)")

    model = compact.compact_model(compact.ARCHITECTURE, len(rows) + 1)
    compact.hold_bias_channel(model.state_dict())
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, betas=(0.9, 0.95), weight_decay=0.0)
    batches = _batches(sequences, random.Random(SEED))
    model.train()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = LEARNING_RATE * _schedule(step, steps)
        batch = batches[step % len(batches)]
        ids, labels, mask = _tensors(batch, index, unknown)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        compact.hold_bias_channel(model.state_dict())
        if step % 50 == 0 or step == steps - 1:
            log(f"step {step:5d}  loss {loss.item():.4f}  {time.monotonic() - started:.0f} s")
    compact.save_compact(model.state_dict(), rows, compact.ARCHITECTURE, out)
    log(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - started:.0f} s")


def _schedule(step: int, steps: int) -> float:
    if step < WARMUP_STEPS:
        return (step + 1) / WARMUP_STEPS
    progress = (step - WARMUP_STEPS) / max(1, steps - WARMUP_STEPS)
    return FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * progress))


def _batches(sequences: list[Sequence], rng: random.Random) -> list[list[Sequence]]:
    """Batches of similar lengths (little padding), in a seeded order."""
    ordered = sorted(sequences, key=lambda s: len(s.ids))
    batches, batch = [], []
    for s in ordered:
        if batch and (len(batch) + 1) * len(s.ids) > TOKENS_PER_BATCH:
            batches.append(batch)
            batch = []
        batch.append(s)
    batches.append(batch)
    rng.shuffle(batches)
    return batches


def _tensors(batch: list[Sequence], index: dict[int, int], unknown: int):
    import torch

    width = max(len(s.ids) for s in batch)
    ids = torch.full((len(batch), width), unknown, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, s in enumerate(batch):
        compact_ids = torch.tensor([index.get(t, unknown) for t in s.ids])
        ids[row, :len(s.ids)] = compact_ids
        labels[row, s.prompt_tokens:len(s.ids)] = compact_ids[s.prompt_tokens:]
        mask[row, :len(s.ids)] = 1
    return ids, labels, mask


def _print(line: str) -> None:
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2400)
    parser.add_argument("--out", type=Path, default=compact.SHIPPED)
    args = parser.parse_args()
    train(args.steps, args.out, log=_print)


if __name__ == "__main__":
    main()
