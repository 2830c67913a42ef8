"""Operators' CSV files, read as a stream: the encoding (UTF-8 with or without BOM, else Latin-1)
found by a pass over the bytes, the delimiter (, ; or tab) sniffed from the start, and the
rejections an import reports as FILE:LINE: FIELD: reason."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@contextmanager
def open_csv(path: Path) -> Iterator[tuple[Any, str]]:
    """(csv reader, encoding name) over the file, streamed."""
    encoding = detect_encoding(path)
    with path.open(encoding=encoding, newline="") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        yield csv.reader(fh, dialect_of(sample)), "utf-8" if encoding == "utf-8-sig" else encoding


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
