"""The import knows the campaign: Spanish, Polish and English files as their systems write them,
every value its prompts say checked at import (every problem of a row at once), strict imports
undone after rows were written, workers that check rows, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dialer.campaigns import contacts_import
from dialer.campaigns.contacts_import import import_contacts
from dialer.campaigns.values import _PLAIN_AMOUNT, ValueProblem, parse_amount, parse_date, read_amount
from dialer.storage import db
from dialer.storage.models import Campaign, Contact, Phone
from tests.campaigns import storage_url


@pytest.mark.parametrize(("text", "lang", "value"), [
    ("12.500,50", "es", "12500.50"), ("12500,50", "es", "12500.50"), ("12.500", "es", "12500"),
    ("1.234.567,8", "es", "1234567.8"), ("12500.50", "es", "12500.50"), ("99.5", "es", "99.5"),
    ("12 500,50 zł", "pl", "12500.50"), ("12\u00a0500,50", "pl", "12500.50"), ("€ 1.250,00", "es", "1250.00"),
    ("12,500.50", "en", "12500.50"), ("$12,500", "en", "12500"), ("12.500", "en", "12.500"), ("12,5", "en", "12.5"),
])  # fmt: skip
def test_amounts_in_the_campaigns_locale(text: str, lang: str, value: str) -> None:
    assert parse_amount(text, lang) == Decimal(value)


@pytest.mark.parametrize("mark", [",", "."])
def test_the_fast_amount_path_reads_as_the_general_one(mark: str) -> None:
    """Every text of up to 7 characters over 0 1 9 . , that the plain-amount pattern takes is read
    to the same stored form by the general reading (and the pattern takes the common forms)."""
    lang = "es" if mark == "," else "en"
    texts = [""]
    taken = 0
    for _size in range(7):
        texts = [t + c for t in texts for c in "019.,"]
        for text in texts:
            if _PLAIN_AMOUNT[mark].fullmatch(text):
                taken += 1
                assert str(parse_amount(text, lang)) == str(read_amount(text, mark)), text
    assert taken > 1000
    assert _PLAIN_AMOUNT[","].fullmatch("12.500,50") and _PLAIN_AMOUNT["."].fullmatch("12,500.50")


@pytest.mark.parametrize("text", ["doce", "12,50,5", "1.2.3", "-5", "", "12.50.000,00"])
def test_bad_amounts_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueProblem, match="amount|negative"):
        parse_amount(text, "es")


@pytest.mark.parametrize(("text", "lang", "day"), [
    ("2026-12-20", "es", date(2026, 12, 20)), ("20/12/2026", "es", date(2026, 12, 20)),
    ("20.12.2026", "pl", date(2026, 12, 20)), ("20-12-2026", "es", date(2026, 12, 20)),
    ("12/20/2026", "en", date(2026, 12, 20)), ("2026/12/20", "en", date(2026, 12, 20)),
    ("2026-12-20T00:00:00", "pl", date(2026, 12, 20)),
])  # fmt: skip
def test_dates_in_the_usual_forms(text: str, lang: str, day: date) -> None:
    assert parse_date(text, lang) == day


@pytest.mark.parametrize(("text", "message"), [("31/02/2026", "not a date"), ("20/12/26", "four digits"),
                                               ("mañana", "not a date")])  # fmt: skip
def test_bad_dates(text: str, message: str) -> None:
    with pytest.raises(ValueProblem, match=message):
        parse_date(text, "es")


@pytest.fixture(params=["sqlite", "postgresql"])
def session(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    engine = db.make_engine(storage_url(request, tmp_path))
    with db.session_factory(engine)() as s:
        for name, lang, region in (("cobros", "es", "ES"), ("windykacja", "pl", "PL"), ("billing", "en", "US")):
            s.add(Campaign(name=name, flow="collections", language=lang, default_region=region,
                           created_at=datetime.now(UTC)))  # fmt: skip
        s.commit()
        yield s
    engine.dispose()


def named(s: Session, name: str) -> Campaign:
    return s.scalars(select(Campaign).where(Campaign.name == name)).one()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "contacts.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_spanish_file_imports_as_it_is(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "id;nombre;telefono;importe;vencimiento;concepto\n"
                           "A1;Ana Pérez;611 10 00 00;12.500,50;20/12/2026;la factura de gas\n")  # fmt: skip
    report = import_contacts(session, named(session, "cobros"), path)
    session.commit()
    assert (report.imported, report.rejected) == (1, 0)
    contact = session.scalars(select(Contact)).one()
    assert contact.fields == {"amount": "12500.50", "due_date": "2026-12-20", "concept": "la factura de gas"}


def test_polish_and_english_files(session: Session, tmp_path: Path) -> None:
    pl = write(tmp_path, "id,imię,telefon,kwota,termin,tytuł\nP1,Jan,600 100 200,\"1 250,00 zł\",05.01.2027,czynsz\n")
    assert import_contacts(session, named(session, "windykacja"), pl).imported == 1
    en = write(tmp_path, "id,name,phone,balance,due,description\nE1,Ann,(212) 555-0123,\"$1,250.00\",01/05/2027,rent\n")
    assert import_contacts(session, named(session, "billing"), en).imported == 1
    session.commit()
    fields = dict(session.execute(select(Contact.external_id, Contact.fields)).all())
    assert fields["P1"] == {"amount": "1250.00", "due_date": "2027-01-05", "concept": "czynsz"}
    assert fields["E1"] == {"amount": "1250.00", "due_date": "2027-01-05", "concept": "rent"}


def test_every_problem_of_a_row_at_once_with_file_line_and_field(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "id;nombre;telefono;importe;vencimiento;concepto\n"
                           "A1;Ana;611100000;doce;32/12/2026;gas\n"      # two bad values
                           "A2;;622200000;;;\n"                          # four values missing
                           "A3;Eva;633300000;10,00;01/12/2026;agua\n")  # fine  # fmt: skip
    report = import_contacts(session, named(session, "cobros"), path)
    lines = list(report.lines())
    assert f"{path}:2: importe: 'doce' is not an amount (for example 12.500,50)" in lines
    assert f"{path}:2: vencimiento: '32/12/2026' is not a date (day/month/year)" in lines
    assert [r.field for r in report.rejections if r.line == 3] == ["amount", "concept", "due_date", "name"]
    assert all("missing (the campaign's prompts say {" in r.reason for r in report.rejections if r.line == 3)
    assert (report.imported, report.rejected) == (1, 2)


def test_map_any_field_custom_ones_included(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "dni;cliente;cel;deuda_total;fecha;motivo;oficina\n"
                           "X1;Ana;611100000;5,50;01/12/2026;luz;Centro\n")  # fmt: skip
    mapping = {"dni": "external_id", "cliente": "name", "cel": "phone", "deuda_total": "amount",
               "fecha": "due_date", "motivo": "concept", "oficina": "branch"}  # fmt: skip
    report = import_contacts(session, named(session, "cobros"), path, mapping=mapping)
    session.commit()
    assert report.imported == 1, list(report.lines())
    assert session.scalars(select(Contact.fields)).one() == {"amount": "5.50", "due_date": "2026-12-01",
                                                             "concept": "luz", "branch": "Centro"}  # fmt: skip


def test_strict_undoes_rows_already_written(session: Session, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(contacts_import, "CHUNK", 2)  # the bad row comes after two chunks were written
    rows = "".join(f"A{i};Ana;6111000{i:02d};1,00;01/12/2026;gas\n" for i in range(5))
    path = write(tmp_path, "id;nombre;telefono;importe;vencimiento;concepto\n" + rows + "B;Bob;12;1;01/12/2026;x\n")
    strict = import_contacts(session, named(session, "cobros"), path, strict=True)
    session.commit()
    assert (strict.rows_read, strict.imported, strict.rejected) == (6, 0, 1)
    assert session.scalar(select(func.count()).select_from(Contact)) == 0
    assert session.scalar(select(func.count()).select_from(Phone)) == 0
    again = import_contacts(session, named(session, "cobros"), path)  # without --strict: the 5 good rows
    session.commit()
    assert again.imported == 5 and session.scalar(select(func.count()).select_from(Phone)) == 5


def test_worker_processes_check_rows_as_this_process_does(session: Session, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(contacts_import, "CHUNK", 3)
    rows = ["A0;Ana;611100000;1,00;01/12/2026;gas", "A1;Bob;12;1,00;01/12/2026;gas",
            "A0;Cai;622200000;1,00;01/12/2026;gas", "A3;Dan;611100000;1,00;01/12/2026;gas",
            "A4;Eva;633300000;x;01/12/2026;gas", "A5;Fay;644400000;2,00;02/12/2026;agua",
            "A6;Gil;655500000;3,00;03/12/2026;luz"]  # fmt: skip
    path = write(tmp_path, "id;nombre;telefono;importe;vencimiento;concepto\n" + "\n".join(rows) + "\n")
    inline = import_contacts(session, named(session, "cobros"), path, dry_run=True, workers=0)
    pooled = import_contacts(session, named(session, "cobros"), path, workers=2)
    session.commit()
    assert list(pooled.lines()) == list(inline.lines())
    assert [(r.line, r.field) for r in pooled.rejections] == [(3, "telefono"), (4, "external_id"),
                                                               (5, "telefono"), (6, "importe")]  # fmt: skip
    stored = session.scalars(select(Contact.external_id).order_by(Contact.id)).all()
    assert stored == ["A0", "A5", "A6"]
    numbers = session.execute(select(Contact.external_id, Phone.number).join(Phone)).all()
    assert sorted(numbers) == [("A0", "+34611100000"), ("A5", "+34644400000"), ("A6", "+34655500000")]


def test_texts_cut_for_workers_read_as_the_whole_file(session: Session, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Workers get the file as texts of whole records: a quoted field over several lines, a stray
    quote in an unquoted field, blank lines and CRLF endings read as csv reads the whole file,
    with every rejection on the line its record starts."""
    monkeypatch.setattr(contacts_import, "CHUNK", 2)
    rows = ['A0;"Ana\r\nde la Paz";611100000;1,00;01/12/2026;"gas;\r\n""luz"""', "",
            'A1;O"Brien;622200000;1,00;01/12/2026;gas', 'A2;Bea;12;x;01/12/2026;gas', ";;;;;",
            'A3;"Cai\r\n\r\nRuiz";633300000;2,00;02/12/2026;agua', 'A4;Dan;644400000;;03/12/2026;luz',
            'A5;Eva;655500000;3,00;03/12/2026;luz']  # fmt: skip
    path = tmp_path / "contacts.csv"
    path.write_bytes(("id;nombre;telefono;importe;vencimiento;concepto\r\n" + "\r\n".join(rows) + "\r\n").encode())
    inline = import_contacts(session, named(session, "cobros"), path, dry_run=True, workers=0)
    pooled = import_contacts(session, named(session, "cobros"), path, workers=2)
    session.commit()
    assert list(pooled.lines()) == list(inline.lines())
    assert pooled.rows_read == inline.rows_read == 6
    assert [(r.line, r.field) for r in pooled.rejections] == [(7, "telefono"), (7, "importe"), (12, "amount")]
    stored = {ext: name for ext, name in session.execute(select(Contact.external_id, Contact.name))}
    assert stored == {"A0": "Ana\r\nde la Paz", "A1": 'O"Brien', "A3": "Cai\r\n\r\nRuiz", "A5": "Eva"}
    fields = session.scalars(select(Contact.fields).where(Contact.external_id == "A0")).one()
    assert fields["concept"] == 'gas;\r\n"luz"'
