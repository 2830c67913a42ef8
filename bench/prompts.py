"""Prompt rendering speed: espeak-ng renders per second, cache hits per second, and the time to
pre-render a campaign's personalised sentences.

    python bench/prompts.py [--renders 40] [--contacts 10000]

The 10,000-contact figure is extrapolated from the measured render rate for two personalised
sentences per contact, the debt message and the machine message. Fixed sentences are rendered
once per language and do not count. Cache hits are measured for real.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prompts.cache import PromptCache  # noqa: E402
from prompts.speech import say_amount, say_date  # noqa: E402
from prompts.templates import Templates  # noqa: E402

NAMES = ["Ana Pérez", "José Muñoz", "Lucía Gómez", "Carlos Díaz", "Marta Ruiz", "Pedro Sáenz"]


def sentences(n: int) -> list[str]:
    t = Templates("es")
    out = []
    for i in range(n):
        values = {
            "name": NAMES[i % len(NAMES)],
            "company": "Servicios del Sur",
            "concept": "la factura de octubre",
            "amount": say_amount(Decimal(1000 + 37 * i) + Decimal("0.50"), "ARS", "es"),
            "due_date": say_date(date(2026, 11, 1) + timedelta(days=i % 60), "es"),
        }
        out.append(t.prompt("debt_message", values).text or "")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=40)
    parser.add_argument("--contacts", type=int, default=10000)
    args = parser.parse_args()
    texts = sentences(args.renders)
    with tempfile.TemporaryDirectory() as tmp:
        cache = PromptCache(Path(tmp))
        started = time.perf_counter()
        for text in texts:
            cache.render(text, "es")
        render_s = (time.perf_counter() - started) / len(texts)
        started = time.perf_counter()
        for _ in range(10):
            for text in texts:
                cache.render(text, "es")
        hit_s = (time.perf_counter() - started) / (10 * len(texts))
    per_contact = 2
    print(f"espeak-ng: {1 / render_s:.1f} renders/s ({render_s * 1000:.0f} ms per sentence, 8 kHz WAV)")
    print(f"cache hit: {1 / hit_s:.0f} lookups/s; a hit is {render_s / hit_s:.0f}x faster than a render")
    total = args.contacts * per_contact * render_s
    print(f"pre-render {args.contacts} contacts x {per_contact} personalised sentences: "
          f"{total:.0f} s ({total / 60:.1f} min) on one core")  # fmt: skip


if __name__ == "__main__":
    main()
