"""Import files read as they go: CSV row by row (a 1M-row file never sits in memory), JSON whole.

The encoding is found from the byte-order mark (UTF-8, UTF-16) or from the NUL bytes of UTF-16 without
one; anything else must be UTF-8, checked in one pass before the first row is stored, so a Windows
(cp1258) export is refused with the file, the line and the encoding expected instead of a codec error
half-way through an import.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def encoding_of(path: Path) -> str:
    """The file's encoding, or ValueError naming the file, where the bad byte is and what is expected."""
    with path.open("rb") as f:
        head = f.read(_CHUNK)
        encoding = next((enc for bom, enc in _BOMS if head.startswith(bom)), None)
        sample = head[:4096]
        zeros = max(sample[1::2].count(0), sample[0::2].count(0))
        if encoding is None and zeros * 4 >= len(sample) // 2 > 0:
            # UTF-16 without a mark: ASCII characters have their zero byte after (LE) or before (BE) them,
            # and an export's rows are mostly ASCII (codes, dates, numbers). A stray NUL is no UTF-16.
            encoding = "utf-16-le" if sample[1::2].count(0) >= sample[0::2].count(0) else "utf-16-be"
        encoding = encoding or "utf-8"
        decoder = codecs.getincrementaldecoder(encoding)()
        offset, line = 0, 1
        chunk = head
        while True:
            final = len(chunk) < _CHUNK
            nul = chunk.find(b"\x00") if encoding.startswith("utf-8") else -1
            try:
                decoder.decode(chunk[:nul] if nul >= 0 else chunk, final=final and nul < 0)
                if nul >= 0:
                    at_line = line + chunk[:nul].count(b"\n")
                    raise ValueError(
                        f"file '{path}': contains a NUL byte (at offset {offset + nul}, line {at_line}), "
                        "which no text export has: the file is damaged or not a CSV or JSON export; "
                        "export it again"
                    )
            except UnicodeDecodeError as exc:
                at = offset + max(exc.start, 0)
                line += chunk[: max(exc.start, 0)].count(b"\n")
                byte = chunk[exc.start] if 0 <= exc.start < len(chunk) else None
                shown = f"byte 0x{byte:02x}" if byte is not None else "an incomplete character"
                raise ValueError(
                    f"file '{path}': not valid {encoding.upper()} ({shown} at offset {at}, line {line}): "
                    "save it as UTF-8 (UTF-16 with a byte-order mark is read too); a Windows Vietnamese "
                    "(cp1258, TCVN3) export must be converted first"
                ) from exc
            if final:
                return encoding
            offset += len(chunk)
            line += chunk.count(b"\n")
            chunk = f.read(_CHUNK)


# A CSV header's column names as the import reads them, or ValueError saying what is wrong with them.
Header = Callable[[list[str]], list[str]]


def items(path: Path, header: Header | None = None) -> Iterator[dict[str, Any]]:
    """The file's items, read lazily for CSV; ValueError now (not mid-import) for a bad or empty file, or a
    CSV header `header` refuses."""
    encoding = encoding_of(path)
    if path.suffix.lower() == ".csv":
        rows: Iterator[dict[str, Any]] = _csv_rows(path, encoding, header)
    else:
        rows = iter(_json_items(path, encoding))
    first = list(itertools.islice(rows, 1))
    if not first:
        raise ValueError(f"file '{path}': no items (the file is empty or has only a header)")
    return itertools.chain(first, rows)


def _csv_rows(path: Path, encoding: str, header: Header | None) -> Iterator[dict[str, Any]]:
    with path.open(encoding=encoding, newline="") as f:
        reader = csv.DictReader(f)
        if header is not None and reader.fieldnames is not None:
            try:
                reader.fieldnames = header(list(reader.fieldnames))
            except ValueError as exc:
                raise ValueError(f"file '{path}': header (line 1): {exc}") from exc
        for row in reader:
            yield dict(row)


def columns(names: list[str], known: Iterable[str], required: Iterable[str]) -> list[str]:
    """A CSV header's `names` with each known column in its own spelling (the letter case an Excel export
    may have changed, spaces around it), or ValueError naming the `required` columns it lacks. A name
    that matches two columns, or a column already present as spelled, is left as it is."""
    by_lower: dict[str, list[str]] = {}
    for name in known:
        by_lower.setdefault(name.lower(), []).append(name)
    given = set(names)
    read = []
    for name in names:
        match = by_lower.get(name.strip().lower(), [])
        read.append(match[0] if len(match) == 1 and match[0] not in given else name)
    missing = [name for name in required if name not in read]
    if missing:
        known_set = set(known)
        unknown = [name for name in read if name not in known_set]
        also = f"; not known: {', '.join(unknown)}" if unknown else ""
        raise ValueError(
            f"missing column {', '.join(missing)}{also} (columns are named as the import format's fields, "
            f"e.g. {missing[0]}, in any letter case)"
        )
    return read


def _json_items(path: Path, encoding: str) -> list[Any]:
    # JSON is read whole: the portal's sync bodies are batches; a large export goes as CSV, which streams.
    text = path.read_text(encoding=encoding)
    if not text.strip():
        return []
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"file '{path}': not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    except ValueError as exc:  # Python refuses integers of more than 4300 digits (CVE-2020-10735)
        raise ValueError(f"file '{path}': not valid JSON: a number of more than 4300 digits") from exc
    if isinstance(doc, dict):
        doc = doc.get("data")
    if not isinstance(doc, list):
        raise ValueError(f"file '{path}': expected a list or an object with a 'data' list")
    return doc
