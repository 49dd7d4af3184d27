"""Reproducible permuted-block randomization.

A randomized protocol records ``allocation.method: permuted_blocks`` with a ``block_size`` and a ``seed``.
Randomization number *n* (1, 2, 3, ...) falls in block ``(n - 1) // block_size + 1``. Each block holds
every arm ``ratio * block_size / sum(ratios)`` times, in an order shuffled by a random generator seeded
from the protocol's seed and the block number only. So any allocation can be recomputed and audited from
the protocol file alone, on any machine and Python version, without knowing earlier allocations::

    >>> from dosing.catalog import get_protocol
    >>> allocate(get_protocol("MSC-ACLF-WEEKLY"), 1).block_number
    1

The generator is ``random.Random`` seeded with an integer derived by SHA-256 (never ``hash()``, which is
salted per process), and the shuffle is a Fisher-Yates written here on top of ``getrandbits`` so that a
change to ``random.shuffle``'s internals cannot move an allocation.
"""

from __future__ import annotations

import hashlib
import random
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from dosing.errors import DosingError
from dosing.protocol import Protocol

__all__ = ["Allocation", "allocate", "allocation_sequence", "block_seed"]


class Allocation(BaseModel):
    """Where one randomization number falls and which arm it assigns."""

    model_config = ConfigDict(frozen=True)

    randomization_number: int = Field(ge=1)
    arm: str
    block_number: int = Field(ge=1)
    position_in_block: int = Field(ge=1)
    seed: str
    block_size: int = Field(ge=2)


def _blocks_of(protocol: Protocol) -> tuple[str, int, tuple[str, ...]]:
    """The protocol's seed, block size and one unshuffled block; refuses non-block allocation."""
    allocation = protocol.allocation
    if allocation.method != "permuted_blocks":
        raise DosingError(
            "allocation",
            "allocation.method is permuted_blocks",
            f"{protocol.id} allocates by {allocation.method}, not by randomization in permuted blocks",
        )
    if allocation.block_size is None or allocation.seed is None:  # pragma: no cover - the model refuses
        raise DosingError("allocation", "permuted_blocks needs block_size and seed", "missing in protocol")
    block_size = allocation.block_size
    ratio_sum = sum(arm.ratio for arm in protocol.arms)
    if block_size % ratio_sum:  # pragma: no cover - the protocol model refuses this too
        raise DosingError(
            "allocation.block_size",
            f"a multiple of the ratio sum {ratio_sum}",
            f"a block of {block_size} cannot hold the arms in their ratio",
        )
    template = tuple(arm.id for arm in protocol.arms for _ in range(arm.ratio * block_size // ratio_sum))
    return allocation.seed, block_size, template


def block_seed(seed: str, block_number: int) -> int:
    """The integer that seeds block ``block_number``'s shuffle: the first 8 bytes of SHA-256."""
    digest = hashlib.sha256(f"{seed}\x1fblock\x1f{block_number}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _below(rng: random.Random, n: int) -> int:
    """A uniform integer in [0, n) by rejection sampling on ``getrandbits`` (stable across versions)."""
    bits = n.bit_length()
    while True:
        value = rng.getrandbits(bits)
        if value < n:
            return value


@lru_cache(maxsize=4096)
def _block(seed: str, template: tuple[str, ...], block_number: int) -> tuple[str, ...]:
    rng = random.Random(block_seed(seed, block_number))
    items = list(template)
    for i in range(len(items) - 1, 0, -1):
        j = _below(rng, i + 1)
        items[i], items[j] = items[j], items[i]
    return tuple(items)


def _check_number(randomization_number: int) -> None:
    if isinstance(randomization_number, bool) or not isinstance(randomization_number, int):
        raise DosingError(
            "randomization_number", "a whole number >= 1", f"{randomization_number!r} is not a number"
        )
    if randomization_number < 1:
        raise DosingError(
            "randomization_number",
            "randomization_number >= 1",
            f"{randomization_number} is not a randomization number (they start at 1)",
        )


def allocate(protocol: Protocol, randomization_number: int) -> Allocation:
    """The arm assigned to ``randomization_number`` (1-based), with its block and position."""
    _check_number(randomization_number)
    seed, block_size, template = _blocks_of(protocol)
    index = randomization_number - 1
    block_number = index // block_size + 1
    position = index % block_size + 1
    arm = _block(seed, template, block_number)[position - 1]
    return Allocation(
        randomization_number=randomization_number,
        arm=arm,
        block_number=block_number,
        position_in_block=position,
        seed=seed,
        block_size=block_size,
    )


def allocation_sequence(protocol: Protocol, count: int) -> list[str]:
    """Arm ids for randomization numbers 1..count."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise DosingError("count", "count >= 0", f"{count!r} is not a number of allocations")
    seed, _, template = _blocks_of(protocol)
    sequence: list[str] = []
    block_number = 0
    while len(sequence) < count:
        block_number += 1
        sequence.extend(_block(seed, template, block_number))
    return sequence[:count]
