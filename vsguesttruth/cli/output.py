"""How the read commands print for people: a rich console, verdicts in their colours, and tables that stay fast
when they are long. Data is never parsed as rich markup."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vsguesttruth.truth import Verdict

STYLE = {
    "healthy": "green", "degraded": "yellow", "below_sla": "yellow", "connectivity_lost": "red",
    "all_paths_down": "bold red", "media_failure": "bold red", "unknown": "dim",
}
#: above this many rows a table is printed as plain aligned lines (rich takes about a second per thousand rows, a
#: minute for 40,000)
PLAIN_ROWS = 200


def new_console() -> Console:
    return Console(soft_wrap=False, width=None if click.get_text_stream("stdout").isatty() else 160)


def verdict_style(v: Verdict | str | None) -> tuple[str, str]:
    """A verdict (or path state) and its colour."""
    value = getattr(v, "value", v) or "-"
    return (value, STYLE.get(value, ""))


def styled(*parts: str | tuple[str, str]) -> Text:
    return Text.assemble(*parts)


def print_table(columns: tuple[str, ...], rows: list[tuple[str | Text, ...]]) -> None:
    """``rows`` under ``columns``, the last column wrapping: a rich table, or plain aligned lines when there are
    more than PLAIN_ROWS (cells lose their colours there)."""
    if len(rows) > PLAIN_ROWS:
        plain = [[c.plain if isinstance(c, Text) else c for c in r] for r in rows]
        widths = [max([len(c)] + [len(r[i]) for r in plain]) for i, c in enumerate(columns[:-1])]
        lines = ["  ".join(c.ljust(w) for c, w in zip(columns[:-1], widths)) + "  " + columns[-1]]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r[:-1], widths)) + "  " + r[-1] for r in plain]
        click.echo("\n".join(lines))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, no_wrap=column != columns[-1])
    for row in rows:
        table.add_row(*(c if isinstance(c, Text) else Text(c) for c in row))
    new_console().print(table)
