"""CSV import: mapping, E.164, every rejected row with line and reason, encodings, one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dialer.campaigns.contacts_import import CsvFileError, import_contacts
from dialer.domain import PhoneType
from dialer.storage import db
from dialer.storage.models import Campaign, Contact, Phone


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        # a flow whose prompts say nothing personal: these tests are about rows, not fields
        s.add(Campaign(name="march", flow="survey", default_region="ES", created_at=datetime.now(UTC)))
        s.commit()
        yield s
    engine.dispose()


def campaign(s: Session) -> Campaign:
    return s.scalars(select(Campaign)).one()


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "contacts.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_rows_are_imported_with_e164_phones_in_order_and_custom_fields(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "id;nombre;telefono1;telefono2;amount;due_date\n"
                           "A1;Ana Pérez;611 10 00 00;+34 912 345 678;12500.00;2026-12-20\n")  # fmt: skip
    report = import_contacts(session, campaign(session), path)
    session.commit()
    assert (report.rows_read, report.imported, report.rejected) == (1, 1, 0)
    contact = session.scalars(select(Contact)).one()
    assert (contact.external_id, contact.name) == ("A1", "Ana Pérez")
    assert contact.fields == {"amount": "12500.00", "due_date": "2026-12-20"}
    assert [(p.number, p.type, p.position) for p in contact.phones] == [
        ("+34611100000", PhoneType.MOBILE, 0),
        ("+34912345678", PhoneType.FIXED, 1),
    ]


def test_every_bad_row_is_reported_with_line_field_and_reason(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeffid,name,phone\n"      # UTF-8 with BOM
                           "A1,Ana,611100000\n"          # line 2 ok
                           "A2,Bob,12\n"                  # line 3 invalid number
                           "A3,Cai,611100000\n"           # line 4 number repeats line 2
                           "A1,Dan,622200000\n"           # line 5 id repeats line 2
                           ",Eva,633300000\n"             # line 6 no id
                           "A7,Fay,\n"                    # line 7 no phone
                           "A8,\"Gil\nGómez\",644400000\n"  # lines 8-9: quoted newline, ok
                           "A9,Hal,not a number\n")      # line 10 not a phone number  # fmt: skip
    report = import_contacts(session, campaign(session), path)
    session.commit()
    assert report.rows_read == report.imported + report.rejected == 8
    assert report.imported == 2
    assert [(r.line, r.field) for r in report.rejections] == [
        (3, "phone"), (4, "phone"), (5, "external_id"), (6, "external_id"), (7, "phone"), (10, "phone"),
    ]  # fmt: skip
    assert "repeats line 2" in report.rejections[1].reason
    assert next(report.lines()).startswith(f"{path}:3: phone: '12' is not a valid number")
    assert session.scalar(select(func.count()).select_from(Contact)) == 2


def test_latin1_files_are_read(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "id;nombre;telefono\nA1;José Muñoz;611100000\n", encoding="latin-1")
    report = import_contacts(session, campaign(session), path)
    session.commit()
    assert report.encoding == "latin-1"
    assert session.scalars(select(Contact.name)).one() == "José Muñoz"


def test_dry_run_and_strict_import_nothing(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "id,phone\nA1,611100000\nA2,12\n")
    dry = import_contacts(session, campaign(session), path, dry_run=True)
    strict = import_contacts(session, campaign(session), path, strict=True)
    session.commit()
    assert (dry.rows_read, dry.imported, dry.rejected) == (2, 1, 1)
    assert (strict.imported, strict.rejected) == (0, 1)
    assert session.scalar(select(func.count()).select_from(Phone)) == 0


def test_a_second_import_rejects_contacts_already_in_the_campaign(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "id,phone\nA1,611100000\n")
    import_contacts(session, campaign(session), path)
    session.commit()
    again = import_contacts(session, campaign(session), path)
    assert again.imported == 0 and "already in campaign 'march'" in again.rejections[0].reason


def test_header_mapping(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "dni,cel,saldo\n123X,611100000,99.5\n")
    report = import_contacts(session, campaign(session), path, mapping={"dni": "external_id", "cel": "phone"})
    session.commit()
    assert report.imported == 1
    assert session.scalars(select(Contact.fields)).one() == {"amount": "99.5"}  # saldo: an alias of amount


@pytest.mark.parametrize(
    ("text", "mapping", "message"),
    [
        ("", {}, "empty file"),
        ("name,phone\nAna,611100000\n", {}, "no id column"),
        ("id,name\nA1,Ana\n", {}, "no phone column"),
        ("id,phone\nA1,611100000\n", {"phone": "tele phone"}, "mapping phone=tele phone: unknown field"),
        ("id,phone\nA1,611100000\n", {"phone": "telephone"}, "no phone column"),  # a custom field now
    ],
)
def test_a_file_that_cannot_be_read_is_one_clear_error(
    session: Session, tmp_path: Path, text: str, mapping: dict[str, str], message: str
) -> None:
    with pytest.raises(CsvFileError, match=message):
        import_contacts(session, campaign(session), write(tmp_path, text), mapping=mapping)


def test_cli_import_prints_each_rejection_and_the_sum(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli import app

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    with db.session_factory(engine).begin() as s:
        s.add(Campaign(name="april", flow="survey", default_region="ES", created_at=datetime.now(UTC)))
    engine.dispose()
    path = write(tmp_path, "id,phone\nA1,611100000\nA2,12\n")
    runner = CliRunner()
    unknown = runner.invoke(app, ["contacts", "import", "nope", str(path), "--url", url])
    result = runner.invoke(app, ["contacts", "import", "april", str(path), "--url", url])
    assert unknown.exit_code == 1 and "unknown campaign 'nope'" in unknown.output
    assert result.exit_code == 0, result.output
    assert f"{path}:3: phone: '12' is not a valid number in region ES" in result.output
    assert "rows read 2 = imported 1 + rejected 1" in result.output
