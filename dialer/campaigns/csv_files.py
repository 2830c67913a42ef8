"""Operators' CSV files, read as a stream: the encoding (UTF-8 with or without BOM, else Latin-1)
found by a pass over the bytes, the delimiter (, ; or tab) sniffed from the start, and the
rejections an import reports as FILE:LINE: FIELD: reason. A large file's records travel as text,
cut only where the csv reader ended a record, so worker processes read the cells themselves."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

READ_BYTES = 1 << 20


class CsvFileError(ValueError):
    """The file as a whole cannot be read (encoding, no header, unknown mapping)."""


@dataclass(frozen=True)
class Rejection:
    line: int
    field: str
    reason: str


def detect_encoding(path: Path) -> str:
    """"utf-8-sig" when every byte decodes as UTF-8 (a BOM is dropped), else "latin-1"; reads the
    file in 1 MiB pieces, so a large file is never held whole."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as fh:
        try:
            while piece := fh.read(READ_BYTES):
                decoder.decode(piece)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "latin-1"
    return "utf-8-sig"


def dialect_of(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def dialect_params(dialect: type[csv.Dialect] | csv.Dialect) -> dict[str, Any]:
    """A dialect as csv.reader's keyword arguments (a sniffed dialect is a class that cannot be
    pickled; its settings can)."""
    names = ("delimiter", "quotechar", "escapechar", "doublequote", "skipinitialspace", "quoting", "strict")
    return {name: getattr(dialect, name) for name in names if hasattr(dialect, name)}


class Records:
    """A CSV file's records: the header, then texts of up to `size` records each with the line
    they start on; csv.reader(io.StringIO(text, newline=""), **params) reads a text's rows exactly
    as a reader over the whole file reads them (a quoted field may span lines)."""

    def __init__(self, fh: TextIO, params: dict[str, Any]) -> None:
        self._consumed: list[str] = []
        self._reader = csv.reader(self._lines(fh), **params)

    def _lines(self, fh: TextIO) -> Iterator[str]:
        consumed = self._consumed
        for line in fh:
            consumed.append(line)
            yield line

    def header(self) -> list[str] | None:
        row = next(self._reader, None)
        self._consumed.clear()
        return row

    def texts(self, size: int) -> Iterator[tuple[int, str]]:
        reader, consumed = self._reader, self._consumed
        first, count = reader.line_num + 1, 0
        for _row in reader:
            count += 1
            if count == size:
                yield first, "".join(consumed)
                consumed.clear()
                first, count = reader.line_num + 1, 0
        if consumed:
            yield first, "".join(consumed)


@contextmanager
def open_records(path: Path) -> Iterator[tuple[Records, dict[str, Any], str]]:
    """(records, the reader's settings, encoding name) of a file, streamed."""
    encoding = detect_encoding(path)
    with path.open(encoding=encoding, newline="") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        params = dialect_params(dialect_of(sample))
        yield Records(fh, params), params, "utf-8" if encoding == "utf-8-sig" else encoding


def decode(path: Path) -> tuple[str, str]:
    """The whole text and its encoding (small files: DNC lists)."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def csv_reader(text: str) -> Any:
    """A csv reader over a text, with the delimiter detected from its start."""
    return csv.reader(io.StringIO(text), dialect_of(text[:4096]))
