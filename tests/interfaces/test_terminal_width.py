"""Output that is not a terminal keeps whole lines: names are not cut to 80 columns when a
user pipes a listing into grep or a file; COLUMNS and an explicit width still decide."""

from __future__ import annotations

import io

from rich.table import Table

from clearance.terminal import PIPED_WIDTH, SafeConsole

LONG = "m" * 100  # the longest name the name rule allows


def _table() -> Table:
    table = Table("model", "owner", "stage", "production version")
    table.add_row(LONG, "risk-team@bank.example", "production", "12")
    return table


def test_a_pipe_gets_whole_lines() -> None:
    out = io.StringIO()
    console = SafeConsole(file=out, _environ={})
    assert console.width == PIPED_WIDTH
    console.print(_table())
    assert LONG in out.getvalue() and "…" not in out.getvalue()


def test_columns_and_an_explicit_width_still_decide() -> None:
    assert SafeConsole(file=io.StringIO(), _environ={"COLUMNS": "60"}).width == 60
    assert SafeConsole(file=io.StringIO(), _environ={}, width=70).width == 70
    narrow = io.StringIO()
    SafeConsole(file=narrow, _environ={"COLUMNS": "60"}).print(_table())
    assert LONG not in narrow.getvalue()  # a terminal's own width still folds or cuts


def test_the_size_can_still_be_set() -> None:
    console = SafeConsole(file=io.StringIO(), _environ={})
    console.size = (90, 30)
    assert (console.width, console.height) == (90, 30)
