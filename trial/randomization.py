"""Allocation sequences: pure arithmetic from a seed, no Django.

Three ways to decide an arm, all reproducible from (seed, settings, input):

- `permuted_blocks`: the concealed list for one stratum. Blocks of randomly varying size
  (each size a multiple of the weight sum), every block holding each arm exactly
  weight × size / sum(weights) times, shuffled. The list is built block by block from one
  random stream, so a longer list starts with the shorter one: extending a stratum's list
  later never changes a slot already generated.
- `balanced_list`: a cohort randomized at once (the model trial: 60 workers, 1:1:1). The
  counts per arm are exact whenever the cohort is a multiple of the weight sum.
- `minimize`: Pocock & Simon (1975) minimization with a random element.

Random streams come from `random.Random(str)`: a string seed is hashed with SHA-512, so
the same seed gives the same numbers on every machine and Python run (unlike hash()).
"""
from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class SchemeError(ValueError):
    """Settings that cannot produce a valid sequence; the message says what is accepted."""


@dataclass(frozen=True)
class Slot:
    position: int  # 1-based, within the stratum
    block: int  # 1-based
    block_size: int
    arm: str


@dataclass(frozen=True)
class MinimizationDecision:
    arm: str
    imbalance: Mapping[str, float]  # total imbalance if the participant went to each arm
    preferred: tuple[str, ...]  # the arms with the least imbalance
    followed_preference: bool


def weight_sum(weights: Mapping[str, int]) -> int:
    return sum(weights.values())


def check_weights(weights: Mapping[str, int]) -> None:
    if not weights:
        raise SchemeError("a trial needs at least one arm to allocate to")
    bad = [arm for arm, w in weights.items() if not isinstance(w, int) or w < 1]
    if bad:
        raise SchemeError(f"allocation weights must be whole numbers ≥ 1 (check {', '.join(bad)})")


def check_block_sizes(weights: Mapping[str, int], block_sizes: Sequence[int]) -> None:
    check_weights(weights)
    total = weight_sum(weights)
    if not block_sizes:
        raise SchemeError(f"give at least one block size, a multiple of the weight sum {total} (e.g. {total}, {2 * total})")
    wrong = [size for size in block_sizes if not isinstance(size, int) or size < total or size % total]
    if wrong:
        raise SchemeError(
            f"block sizes must be multiples of the weight sum {total} (e.g. {total}, {2 * total}); "
            f"not accepted: {', '.join(str(s) for s in wrong)}"
        )


def _stream(seed: str, *labels: str) -> random.Random:
    return random.Random("|".join((str(seed), *labels)))


def _arm_pool(weights: Mapping[str, int], multiplier: int) -> list[str]:
    # Sorted arm names: the result must not depend on the caller's dict order.
    return [arm for arm in sorted(weights) for _ in range(weights[arm] * multiplier)]


def permuted_blocks(
    weights: Mapping[str, int], block_sizes: Sequence[int], length: int, *, seed: str, stratum: str = ""
) -> tuple[Slot, ...]:
    """The first complete blocks of a stratum's list covering at least `length` slots."""
    check_block_sizes(weights, block_sizes)
    total = weight_sum(weights)
    sizes = sorted(set(block_sizes))
    rng = _stream(seed, "blocks", stratum)
    slots: list[Slot] = []
    block = 0
    while len(slots) < length:
        block += 1
        size = rng.choice(sizes)
        pool = _arm_pool(weights, size // total)
        rng.shuffle(pool)
        start = len(slots)
        slots.extend(Slot(start + i + 1, block, size, arm) for i, arm in enumerate(pool))
    return tuple(slots)


def balanced_list(weights: Mapping[str, int], n: int, *, seed: str, label: str = "") -> tuple[str, ...]:
    """`n` arms in random order with counts exactly in the weights' ratio when n is a multiple
    of the weight sum; otherwise the remainder is drawn from one more shuffled block, so every
    arm is within one of its share."""
    check_weights(weights)
    if n < 0:
        raise SchemeError("the cohort size cannot be negative")
    total = weight_sum(weights)
    rng = _stream(seed, "cohort", label)
    full, remainder = divmod(n, total)
    arms = _arm_pool(weights, full)
    extra = _arm_pool(weights, 1)
    rng.shuffle(extra)
    arms.extend(extra[:remainder])
    rng.shuffle(arms)
    return tuple(arms)


def stratum_key(values: Mapping[str, object]) -> str:
    """A stable text key of a participant's stratum, e.g. 'sex=male;site=North'."""
    return ";".join(f"{field}={'' if values[field] is None else values[field]}" for field in sorted(values))


def _imbalance(counts: Sequence[float], method: str) -> float:
    if method == "range":
        return max(counts) - min(counts)
    if method == "variance":
        mean = sum(counts) / len(counts)
        # Sample variance (n − 1), as in Pocock & Simon's variance criterion.
        return sum((c - mean) ** 2 for c in counts) / (len(counts) - 1) if len(counts) > 1 else 0.0
    raise SchemeError("imbalance is measured by 'range' or 'variance'")


def minimize(
    weights: Mapping[str, int],
    factor_counts: Mapping[str, Mapping[str, int]],
    *,
    method: str = "range",
    p_preferred: float = 0.8,
    seed: str,
    draw: int,
) -> MinimizationDecision:
    """Pocock–Simon minimization for one participant.

    `factor_counts[factor][arm]` is how many participants already allocated share this
    participant's level of `factor`. For each candidate arm the counts are raised by one at
    that arm, divided by the arm's weight (so 2:1 allocation is "balanced" at 2:1), and the
    imbalance (range or sample variance) is summed over factors. The arm(s) with the least
    total are preferred and taken with probability `p_preferred`; otherwise one of the other
    arms is taken. Ties and the random choices are weighted by the allocation weights. `draw`
    numbers the decision, so (seed, draw) reproduces it.
    """
    check_weights(weights)
    if not 0.5 <= p_preferred <= 1:
        raise SchemeError("the probability of taking the preferred arm must be between 0.5 and 1")
    arms = sorted(weights)
    factors = factor_counts or {"overall": dict.fromkeys(arms, 0)}
    totals: dict[str, float] = {}
    for candidate in arms:
        total = 0.0
        for counts in factors.values():
            adjusted = [(counts.get(arm, 0) + (arm == candidate)) / weights[arm] for arm in arms]
            total += _imbalance(adjusted, method)
        totals[candidate] = total
    least = min(totals.values())
    preferred = tuple(arm for arm in arms if abs(totals[arm] - least) < 1e-12)
    others = [arm for arm in arms if arm not in preferred]
    rng = _stream(seed, "minimize", str(draw))
    follow = not others or rng.random() < p_preferred
    pool = list(preferred) if follow else others
    arm = rng.choices(pool, weights=[weights[a] for a in pool])[0]
    return MinimizationDecision(arm=arm, imbalance=totals, preferred=preferred, followed_preference=follow)
