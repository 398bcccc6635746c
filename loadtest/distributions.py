"""Length distributions for prompts and outputs, written as `fixed:N`, `uniform:LO:HI` or `lognormal:MEDIAN:SIGMA`."""

import math
import random
from dataclasses import dataclass

KINDS = ("fixed", "uniform", "lognormal")


@dataclass(frozen=True)
class Distribution:
    kind: str
    a: float
    b: float = 0.0
    minimum: int = 1
    maximum: int = 131072

    def sample(self, rng: random.Random) -> int:
        if self.kind == "fixed":
            value = self.a
        elif self.kind == "uniform":
            value = rng.randint(int(self.a), int(self.b))
        else:  # lognormal with the given median and sigma
            value = rng.lognormvariate(math.log(self.a), self.b)
        return max(self.minimum, min(self.maximum, round(value)))

    def __str__(self) -> str:
        if self.kind == "fixed":
            return f"fixed:{self.a:g}"
        return f"{self.kind}:{self.a:g}:{self.b:g}"


def parse_distribution(text: str) -> Distribution:
    """Parses the command-line form; ValueError names what is wrong."""
    kind, _, rest = text.partition(":")
    parts = rest.split(":") if rest else []
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"{text!r}: numbers expected after {kind!r}") from None
    if kind == "fixed" and len(numbers) == 1 and numbers[0] >= 1:
        return Distribution("fixed", numbers[0])
    if kind == "uniform" and len(numbers) == 2 and 1 <= numbers[0] <= numbers[1]:
        return Distribution("uniform", numbers[0], numbers[1])
    if kind == "lognormal" and len(numbers) == 2 and numbers[0] >= 1 and numbers[1] >= 0:
        return Distribution("lognormal", numbers[0], numbers[1])
    raise ValueError(f"{text!r}: use fixed:N, uniform:LO:HI (1 <= LO <= HI) or lognormal:MEDIAN:SIGMA")
