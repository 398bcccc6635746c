"""Benchmark: how often the tiny model's replies are well-formed, by kind of conversation.

Samples the compact weights (the shipped ones, or --weights from `python -m cluster.tinymodel.train
--out`) with transformers at temperature 1 on held-out corpus prompts, judges each reply as the
gateway parses it (a final answer, or a call of a given tool with arguments valid for its schema),
prints the tally and writes JSON. The compact model gives the expanded one's distribution over the
tokens it can emit, so this is what the engine samples, without starting one. From the repository
root (about a minute for 300 prompts on 2 cores):

    .venv/bin/python benchmarks/tiny_model.py --prompts 300
"""

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from cluster.harmony.parse import CALL, RETURN
from cluster.harmony.render import render_chat
from cluster.tinymodel import compact, corpus
from cluster.tinymodel.judge import judge



def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=compact.SHIPPED)
    parser.add_argument("--prompts", type=int, default=300)
    parser.add_argument("--max-tokens", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/tiny_model.json"))
    args = parser.parse_args()
    torch.manual_seed(1)
    torch.set_num_threads(2)
    model, rows = compact.load_compact_model(args.weights)
    index = {token: i for i, token in enumerate(rows)}
    unknown, stops = len(rows), [index[RETURN], index[CALL]]
    tally, wrong, started = Counter(), [], time.monotonic()
    for example in corpus.held_out(args.prompts):
        prompt = [index.get(t, unknown) for t in render_chat(example.request)]
        with torch.no_grad():
            out = model.generate(torch.tensor([prompt]), max_new_tokens=args.max_tokens, do_sample=True,
                                 temperature=1.0, top_p=1.0, top_k=0, eos_token_id=stops, pad_token_id=stops[0],
                                 bad_words_ids=[[unknown]])  # the full checkpoint has no such output row
        verdict = judge(example.request, [rows[i] for i in out[0, len(prompt):].tolist()])
        tally[(example.kind, verdict.ok)] += 1
        if not verdict.ok:
            wrong.append({"kind": example.kind, "why": verdict.why})
    ok = sum(n for (_, good), n in tally.items() if good)
    kinds = sorted({kind for kind, _ in tally})
    by_kind = {kind: {"ok": tally[(kind, True)], "of": tally[(kind, True)] + tally[(kind, False)]} for kind in kinds}
    print(f"well-formed: {ok} of {args.prompts} ({ok / args.prompts:.1%}) in {time.monotonic() - started:.0f} s")
    for kind, n in by_kind.items():
        print(f"  {kind:12s} {n['ok']:4d} of {n['of']}")
    for w in wrong:
        print(f"  wrong ({w['kind']}): {w['why']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"weights": str(args.weights), "prompts": args.prompts, "well_formed": ok,
                                    "by_kind": by_kind, "wrong": wrong}, indent=2) + "\n")


if __name__ == "__main__":
    main()
