"""How long a step of the stand-in takes, and how big its KV cache is: a calibration, shipped as data.

A step's time is linear in what it computes:

    t = base + expert_load × (share of the experts the step's tokens route to)
             + per_prefill_token × prefill tokens + per_decode_seq × decoding sequences
             + per_context_token × the KV tokens its attention reads

The experts term is what makes a mixture of experts cheap to batch: each token picks `experts_per_token`
of `experts` at random, so a step of n tokens reads the weights of a share 1 − (1 − k/E)^n of them,
and from a few dozen tokens on a step reads them all whatever its batch.

The parameters are fitted (`python -m cluster.replica.engines.simulated.fit`) to measured runs of
vLLM; each calibration file keeps the points it was fitted to and the fit's error on each.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from cluster.config import ConfigError

CALIBRATIONS = Path(__file__).with_name("calibrations")
FEATURES = ("base_s", "expert_load_s", "per_prefill_token_s", "per_decode_seq_s", "per_context_token_s")


@dataclass(frozen=True)
class Calibration:
    name: str
    base_s: float
    expert_load_s: float
    per_prefill_token_s: float
    per_decode_seq_s: float
    per_context_token_s: float
    kv_cache_tokens: dict[str, int]  # by KV dtype: "bf16" (vLLM's "auto" for gpt-oss) or "fp8"
    block_size: int = 16
    experts: int = 1  # of the model's mixture of experts, and how many each token routes to
    experts_per_token: int = 1
    start_s: float = 0.0  # how long the engine takes to start (load, compile, warm up) before it serves
    source: str = ""  # what was measured, where
    points: list[dict] = field(default_factory=list)  # the measurements and the fit's error on each

    def features(self, prefill_tokens: int, decode_seqs: int, context_tokens: int) -> tuple[float, ...]:
        """What a step's time is linear in, in the order of FEATURES."""
        tokens = prefill_tokens + decode_seqs
        experts = 1.0 - (1.0 - self.experts_per_token / self.experts) ** tokens
        return 1.0, experts, prefill_tokens, decode_seqs, context_tokens

    def step_time(self, prefill_tokens: int, decode_seqs: int, context_tokens: int) -> float:
        f = self.features(prefill_tokens, decode_seqs, context_tokens)
        return sum(getattr(self, name) * x for name, x in zip(FEATURES, f))

    def kv_tokens(self, kv_cache_dtype: str) -> int:
        key = "fp8" if kv_cache_dtype.startswith("fp8") else "bf16"
        if key not in self.kv_cache_tokens:
            raise ConfigError(f"engine.kv_cache_dtype: calibration {self.name} has no KV size for {key}; "
                              f"it has {', '.join(self.kv_cache_tokens)}")
        return self.kv_cache_tokens[key]

    def to_json(self) -> str:
        return json.dumps({k: getattr(self, k) for k in self.__dataclass_fields__}, indent=2) + "\n"


def shipped() -> list[str]:
    return sorted(p.stem for p in CALIBRATIONS.glob("*.json"))


def load_calibration(name: str) -> Calibration:
    """A shipped calibration by name (`h100-gpt-oss-120b`, `tiny-cpu`, `instant`) or a JSON file's path."""
    path = Path(name) if name.endswith(".json") else CALIBRATIONS / f"{name}.json"
    try:
        raw = json.loads(path.read_text())
    except OSError:
        raise ConfigError(f"engine.calibration: {name!r} is neither a shipped calibration "
                          f"({', '.join(shipped())}) nor a readable .json file") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"engine.calibration: {path} is not valid JSON: {exc}") from None
    try:
        calibration = Calibration(**raw)
    except TypeError as exc:
        raise ConfigError(f"engine.calibration: {path}: {exc}") from None
    if any(getattr(calibration, f) < 0 for f in FEATURES) or not calibration.kv_cache_tokens:
        raise ConfigError(f"engine.calibration: {path}: step-time parameters must be ≥ 0 and "
                          "kv_cache_tokens must name at least one KV dtype")
    return calibration
