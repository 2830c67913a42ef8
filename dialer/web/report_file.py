"""`dialer report CAMPAIGN --format html`: the campaign page as one standalone HTML file (for e-mail):
the same figures and chart, its styles and scripts (uPlot included) inline, nothing fetched."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from markupsafe import Markup
from sqlalchemy.orm import Session, sessionmaker

from dialer.web.context import HERE, templates
from dialer.web.figures import campaign_figures
from dialer.web.i18n import labels_for

STATIC = HERE / "static"


def _inline(*names: str) -> str:
    text = "\n".join((STATIC / name).read_text(encoding="utf-8") for name in names)
    if "</script" in text.lower() or "</style" in text.lower():  # would end the inline block early
        raise ValueError(f"{names}: cannot be inlined")
    return text


def report_html(sessions: sessionmaker[Session], name: str, now: datetime, language: str = "en") -> str:
    """The report of campaign `name` (CampaignError if there is none) as a standalone page."""
    figures: dict[str, Any] = campaign_figures(sessions, name, now)
    return templates().get_template("report.html").render(
        t=labels_for(language), lang=language, figures=figures, generated=f"{now:%Y-%m-%d %H:%M} UTC",
        css=Markup(_inline("vendor/uPlot.min.css", "app.css")),
        scripts=Markup(_inline("vendor/uPlot.iife.min.js", "app.js")),
    )  # fmt: skip
