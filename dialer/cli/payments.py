"""`dialer payments import FILE`: contacts paid, their calls and texts cancelled, promises kept."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dialer.campaigns.payments_import import PaymentsFileError, import_payments
from dialer.cli.common import DbUrlOpt, _fail, _print_import, _session

payments_app = typer.Typer(help="Payments: contacts that paid are neither called nor texted again.",
                           no_args_is_help=True)  # fmt: skip


@payments_app.command("import")
def payments_import(
    file: Annotated[Path, typer.Argument(help="CSV with an external_id column (campaign, amount, date optional).",
                                         exists=True, dir_okay=False)],
    campaign: Annotated[str | None, typer.Option("--campaign", help="Only contacts of this campaign.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Any rejected line rejects the whole file.")] = False,
    url: DbUrlOpt = None,
) -> None:  # fmt: skip
    """Mark contacts paid; every rejected line is printed as FILE:LINE: FIELD: REASON."""
    with _session(url) as session:
        try:
            report = import_payments(session, file, campaign, strict=strict)
        except PaymentsFileError as exc:
            _fail(str(exc))
        session.commit()
    _print_import(report.lines(), report.rows_read, strict,
                  f" = {report.paid} contacts paid ({report.promises_kept} promises kept, "
                  f"{report.texts_cancelled} texts cancelled)")  # fmt: skip
