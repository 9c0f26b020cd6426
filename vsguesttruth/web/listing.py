"""Server-side lists: filter, search, sort and page a list of rows (the disk table, hosts, VMs, LUNs,
datastores, target ports; later the incidents), so a page never holds more than the rows it shows.

``sort`` is a column name, ``-name`` for descending; every list names its columns and its default order.
A search term matches, case-insensitively, anywhere in the text the list gives for a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


class ListError(ValueError):
    """A list parameter that cannot be honoured; ``field`` names it (the API answers 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Columns:
    """How a list sorts (column -> key of a row; ties fall to ``tiebreak``) and what its search reads."""

    keys: Mapping[str, Callable[[dict], Any]]
    default: str
    text: Callable[[dict], str]
    tiebreak: Callable[[dict], Any] = lambda row: 0

    def order(self, sort: str) -> tuple[Callable[[dict], Any], bool]:
        name = (sort or self.default).strip()
        descending = name.startswith("-")
        key = self.keys.get(name.lstrip("-"))
        if key is None:
            raise ListError("sort", f"cannot sort by {name.lstrip('-')!r}; columns: {', '.join(sorted(self.keys))} "
                                    "(prefix - for descending)")
        return key, descending


def page(rows: Iterable[dict], columns: Columns, *, sort: str = "", q: str = "", offset: int = 0,
         limit: int | None = DEFAULT_LIMIT, where: Callable[[dict], bool] | None = None) -> tuple[list[dict], int]:
    """The rows of one page (after ``where``, the search ``q`` and the order) and how many matched."""
    key, descending = columns.order(sort)
    needle = q.strip().lower()
    matched: Sequence[dict] = [r for r in rows if (where is None or where(r))
                               and (not needle or needle in columns.text(r).lower())]
    tiebreak = columns.tiebreak
    # stable sorts: the tie-break first, then the column (descending keeps ties in their ascending order)
    ordered = sorted(matched, key=tiebreak)
    ordered.sort(key=key, reverse=descending)
    end = None if limit is None else offset + limit
    return ordered[offset:end], len(matched)
