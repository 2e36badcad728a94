"""The run event fields docs/events.md promises, read from its tables."""

import re
from pathlib import Path

EVENTS_DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
COMMON = "Common fields"
_FIELD = re.compile(r"`([a-z_]+)`")


def documented_fields() -> dict[str, set[str]]:
    """The fields of each section's first table, by section: "Common fields" and
    each detail type ("Image Exported / Export Failed" gives both)."""
    found: dict[str, set[str]] = {}
    for section in EVENTS_DOC.read_text("utf-8").split("\n## ")[1:]:
        heading, _, body = section.partition("\n")
        fields = _first_table_fields(body)
        for name in heading.split(" / "):
            found[name.strip()] = fields

    return found


def _first_table_fields(body: str) -> set[str]:
    rows = body.split("\n| field | meaning |\n|---|---|\n", 1)[1].split("\n\n", 1)[0]

    return {name for row in rows.splitlines() for name in _FIELD.findall(row.split("|")[1])}
