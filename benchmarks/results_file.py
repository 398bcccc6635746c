"""The JSON every benchmark leaves: its name, the arguments it ran with, then its own figures."""

import json


def write_results(args, benchmark: str, config: dict | None = None, **figures) -> None:
    """Writes `args.out` (its folder made if need be): `benchmark`, `config` (the arguments, plus
    `config`'s entries), then `figures` in the order given; says where."""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    config = vars(args) | {"out": str(args.out)} | (config or {})
    args.out.write_text(json.dumps({"benchmark": benchmark, "config": config, **figures}, indent=2))
    print(f"wrote {args.out}")
