"""SMS texts without the network: GSM-7 / UCS-2, parts that never split an escape or surrogate
pair, transliteration, templates with a contact's values, stop words, gateway URLs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dialer.config import ConfigError
from dialer.sms.messages import MessageError, Messages
from dialer.sms.replies import is_stop, normalize
from dialer.sms.settings import GatewaySettings
from dialer.sms.text import GSM7, UCS2, encoding_of, split, transliterate


def test_spanish_letters_in_the_gsm_basic_set_stay_gsm7_but_accented_vowels_and_polish_do_not() -> None:
    assert encoding_of("¿Señor Müller? ¡Gracias! é") == GSM7
    assert encoding_of("Información") == UCS2  # ó is only in the Spanish shift table
    assert encoding_of("Zażółć") == UCS2


@pytest.mark.parametrize(("text", "parts"), [
    ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
    ("€" * 80, 1), ("€" * 81, 2),  # each € is two septets
    ("ż" * 70, 1), ("ż" * 71, 2), ("ż" * 134, 2), ("ż" * 135, 3),
    ("😀" * 35, 1), ("😀" * 36, 2),  # each emoji is a surrogate pair
])  # fmt: skip
def test_segment_counts(text: str, parts: int) -> None:
    assert split(text).segments == parts


def test_an_escape_pair_is_never_split() -> None:
    found = split("a" * 152 + "€" + "b" * 10)  # the € would need septets 153 and 154 of part one
    assert [len(p) for p in found.parts] == [152, 11] and found.parts[1][0] == "€"
    assert sum(len(p.encode("gsm03.38")) for p in found.parts) == found.units == 164


def test_a_surrogate_pair_is_never_split() -> None:
    found = split("a" * 66 + "😀" + "b" * 10)  # the emoji would need code units 67 and 68
    assert [len(p) for p in found.parts] == [66, 11] and found.parts[1][0] == "😀"


def test_transliteration_keeps_gsm_letters_and_plains_the_rest() -> None:
    assert transliterate("Zażółć gęślą jaźń, Ángel “Ñoño” – ¿sí?") == 'Zazolc gesla jazn, Angel "Ñoño" - ¿si?'
    assert encoding_of(transliterate("Łódź: płatność 12,50 zł")) == GSM7


def test_templates_fill_a_contacts_values_in_its_language() -> None:
    book = Messages("es", {"payment_link": "https://pay.example/{external_id}?a={amount}"}, "Gas Sur")
    values = book.values({"name": "Ana", "external_id": "C 7", "fields": {"amount": "12500.5", "due_date": "2026-11-20",
                                                                          "concept": "gas"}})  # fmt: skip
    text = book.render("notice", values)
    assert text == "Gas Sur: su factura de 12.500,50 EUR por gas vence el 20/11/2026. Pague aquí: https://pay.example/C%207?a=12500.5"
    en = Messages("en", {}, "Co", "USD").values({"fields": {"amount": "1234.5", "due_date": "2026-11-20"}})
    assert (en["amount"], en["due_date"]) == ("1,234.50 USD", "11/20/2026")


def test_a_template_with_a_missing_value_or_an_unknown_placeholder_is_refused_by_name() -> None:
    with pytest.raises(MessageError, match=r"sms.templates.es.ptp_confirmation: no value for \{payment_link\}"):
        Messages("es", {}).render("ptp_confirmation", {"company": "x", "promise_amount": "1", "promise_date": "2"})
    with pytest.raises(MessageError, match=r"sms.templates.pl.mine: unknown placeholder \{debt\}"):
        Messages("pl", {"templates": {"pl": {"mine": "{debt}"}}})


@pytest.mark.parametrize("reply", ["STOP", "baja", " Bája. ", "no", "Nie!", "stop sms", "STOPSMS", "nié"])
def test_stop_words_match_whatever_the_case_accents_and_punctuation(reply: str) -> None:
    assert is_stop(reply)


@pytest.mark.parametrize("reply", ["No puedo pagar hoy", "Tak", "stopper", ""])
def test_other_replies_do_not_opt_out(reply: str) -> None:
    assert not is_stop(reply)
    assert normalize("Łódź ż") == "LODZZ"


def test_gateway_urls_never_show_the_password() -> None:
    smpp = GatewaySettings.from_url("smpp://dialer:s3cret@127.0.0.1:2775?window=4&rate=5")
    assert (smpp.kind, smpp.options["window"], smpp.options["rate"]) == ("smpp", 4, 5.0)
    assert "s3cret" not in repr(smpp) and "s3cret" not in smpp.where
    with pytest.raises(ConfigError, match="unknown option 'speed'") as exc:
        GatewaySettings.from_url("smpp://dialer:s3cret@127.0.0.1:2775?speed=4")
    assert "s3cret" not in str(exc.value)
    with pytest.raises(ConfigError, match="scheme must be kannel:// or smpp://"):
        GatewaySettings.from_url("http://u:p@h:1")


def test_campaign_create_prints_every_templates_encoding_parts_and_cost(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli import app
    from dialer.sms.messages import builtin
    from tests.campaigns import new_database
    from tests.test_campaign_cli import GOOD

    path = tmp_path / "campaign.toml"
    path.write_text(GOOD + '[sms]\nsender = "GasSur"\ncost_per_segment = 0.04\n', encoding="utf-8")
    url = new_database(str(tmp_path / "c.db"))
    result = CliRunner().invoke(app, ["campaign", "create", "--file", str(path), "--url", url])
    assert result.exit_code == 0, result.output
    lines = {ln.split(":")[0]: ln for ln in result.output.splitlines() if ln.startswith("sms template ")}
    assert sorted(lines) == [f"sms template {key}" for key in sorted(builtin("es"))]  # return_call_cut too
    for line in lines.values():  # e.g. "sms template notice: ucs2, 2 part(s), 0.08 EUR a text"
        assert re.fullmatch(r"sms template \w+: (gsm7|ucs2), (\d) part\(s\), ([\d.]+) EUR a text", line), line
