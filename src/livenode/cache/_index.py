"""Insertion-ordered set indexes used by the cache.

An index maps a key (a strategy id, an instrument id, a venue) to a
`dict[item, None]`: a set that remembers insertion order, so queries answer
deterministically without sorting the whole cache.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

K = TypeVar("K")
OrderedSet = dict[Any, None]
Index = dict[Any, OrderedSet]


def index_add(index: Index, key: Any, item: Any) -> None:
    """Add `item` to the bucket of `key`."""
    bucket = index.get(key)
    if bucket is None:
        index[key] = bucket = {}
    bucket[item] = None


def index_discard(index: Index, key: Any, item: Any) -> None:
    """Remove `item` from the bucket of `key`; drop the bucket when empty (bounded memory)."""
    bucket = index.get(key)
    if bucket is not None:
        bucket.pop(item, None)
        if not bucket:
            del index[key]


def narrow(
    status: OrderedSet | None, filters: Iterable[tuple[Index, Any]]
) -> list[OrderedSet] | None:
    """Collect the sets a query must intersect; None if one filter matches nothing.

    Filters whose key is None are not applied.
    """
    sets: list[OrderedSet] = [] if status is None else [status]
    for index, key in filters:
        if key is None:
            continue
        bucket = index.get(key)
        if bucket is None:
            return None
        sets.append(bucket)
    return sets


def intersect(sets: list[OrderedSet], everything: dict[K, Any], seq: dict[K, int]) -> list[K]:
    """Intersect `sets` by walking the smallest; answer in insertion (`seq`) order.

    With no sets, every key of `everything` (already in insertion order).
    """
    if not sets:
        return list(everything)
    sets.sort(key=len)
    smallest, others = sets[0], sets[1:]
    keys = [k for k in smallest if all(k in s for s in others)]
    keys.sort(key=seq.__getitem__)
    return keys


def any_common(sets: list[OrderedSet], everything: dict[Any, Any]) -> bool:
    """Whether `sets` share a key (with no sets: whether `everything` has one); stops at
    the first, walking the smallest set."""
    if not sets:
        return bool(everything)
    smallest = min(sets, key=len)
    others = [s for s in sets if s is not smallest]
    return any(all(k in s for s in others) for k in smallest)
