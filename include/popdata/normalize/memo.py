"""Column-wide parsing memoised on the raw value: codes, dates and regions repeat a lot."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def map_memoised(values: Sequence[object], parse: Callable[[object], T]) -> list[T]:
    """``[parse(v) for v in values]``, calling ``parse`` once per distinct raw value.

    Non-text cells are keyed with their type (``1 == 1.0 == True`` as dict keys);
    unhashable cells are parsed each time.
    """
    memo: dict[object, T] = {}
    out: list[T] = []
    append = out.append
    for raw in values:
        key: object = raw if raw is None or type(raw) is str else (type(raw), raw)
        try:
            parsed = memo.get(key)
        except TypeError:  # unhashable cell
            append(parse(raw))
            continue
        if parsed is None:
            parsed = memo[key] = parse(raw)
        append(parsed)
    return out
