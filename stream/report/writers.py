"""Output files by their name: ``.csv`` is CSV, ``.xlsx`` Excel, anything else JSON lines.

Teams open reports in a spreadsheet; ``--report daily.csv`` writing JSON lines under a CSV
name helps nobody. :func:`open_output` gives a binary file-like object for every backfill
output of rows: what is written to it is JSON lines (as the drivers always wrote), and a
CSV or Excel file turns each line into a row when it is closed. The columns are the rows'
keys in the order first seen; a nested value (a violation's findings) is one cell of JSON.
CSV is UTF-8 with a byte-order mark, so that Excel shows Chinese text as it is.

:func:`check_output` is called for every output path before any work starts: a missing
folder is one line at once, not a traceback after an hour's backfill.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from typing import IO, Any

import msgspec

from stream.errors import InputError

# An Excel sheet holds 1,048,576 rows, the header one of them.
EXCEL_MAX_ROWS = 1_048_575


def kind_of(path: str) -> str:
    """``csv``, ``xlsx`` or ``jsonl``, by the file name."""
    name = path.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".xlsx"):
        return "xlsx"
    return "jsonl"


def check_output(path: str | None, option: str) -> None:
    """Raise :class:`InputError` at once when ``path`` cannot be written (``-``: stdout)."""
    if not path or path == "-":
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise InputError(f"{option} {path}: is a folder; give a file name, e.g. "
                         f"{os.path.join(path, 'out.jsonl')}")
    if not os.path.isdir(folder):
        raise InputError(f"{option} {path}: the folder {folder} does not exist; create it or "
                         f"write elsewhere")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise InputError(f"{option} {path}: not writable (permissions); write elsewhere")


class _Table(io.RawIOBase):
    """Collects JSON lines and writes them as a CSV or Excel table on close."""

    def __init__(self, path: str, kind: str) -> None:
        super().__init__()
        self.path = path
        self.kind = kind
        self.rows: list[dict[str, Any]] = []
        self._rest = b""

    def writable(self) -> bool:
        """Yes."""
        return True

    def write(self, data: Any) -> int:
        """Take JSON lines (bytes); a line may come in pieces."""
        chunk = self._rest + bytes(data)
        lines = chunk.split(b"\n")
        self._rest = lines.pop()
        decode = msgspec.json.decode
        self.rows.extend(decode(line) for line in lines if line.strip())
        return len(data)

    def close(self) -> None:
        """Write the table (once)."""
        if self.closed:
            return
        if self._rest.strip():
            self.rows.append(msgspec.json.decode(self._rest))
        try:
            if self.kind == "csv":
                write_csv(self.rows, self.path)
            else:
                write_xlsx(self.rows, self.path)
        finally:
            super().close()


def open_output(path: str) -> IO[bytes]:
    """A binary file to write JSON lines to; a ``.csv``/``.xlsx`` one becomes that table."""
    kind = kind_of(path)
    if kind == "jsonl":
        return open(path, "wb")  # noqa: SIM115 - the caller closes it
    return _Table(path, kind)  # type: ignore[return-value]


def columns_of(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Every key of ``rows``, in the order first seen."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return msgspec.json.encode(value).decode()
    return value


def write_csv(rows: list[dict[str, Any]], path: str) -> None:
    """Write ``rows`` as CSV (UTF-8 with BOM, a header of every key)."""
    columns = columns_of(rows)
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])


def write_xlsx(rows: list[dict[str, Any]], path: str) -> None:
    """Write ``rows`` as one Excel sheet (a header of every key)."""
    from openpyxl import Workbook  # only when asked for
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if len(rows) > EXCEL_MAX_ROWS:
        raise InputError(f"{path}: {len(rows):,} rows do not fit an Excel sheet "
                         f"({EXCEL_MAX_ROWS:,} at most); write .csv or .jsonl instead")
    columns = columns_of(rows)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("chatwatch")
    sheet.append(columns)

    def cell(value: Any) -> Any:
        value = _cell(value)
        if not isinstance(value, str):
            return value
        # control characters are not allowed in a sheet; a text starting with "=" (a chat
        # message) must stay text, never become a formula
        value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        if value.startswith("="):
            text = WriteOnlyCell(sheet, value=value)
            text.data_type = "s"
            return text
        return value

    for row in rows:
        sheet.append([cell(row.get(c)) for c in columns])
    book.save(path)
