"""Markdown helpers of the report's sections: a table, and a list of numbers in words."""

from __future__ import annotations


def table(header, rows):
    """A Markdown table: ``header`` (column names) over ``rows`` (sequences of cells)."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def and_list(values):
    """``"1, 2 and 4"``: values in words (empty for none)."""
    values = [str(v) for v in values]
    if len(values) < 2:
        return "".join(values)
    return ", ".join(values[:-1]) + " and " + values[-1]
