"""Personal sentences as parts to splice: the fixed text, rendered once, and each contact's values.

A spliced text is its parts joined by SEP ("Registramos un saldo pendiente de", SEP, "doce mil
quinientos pesos", SEP, "por", ...); it is also the text of the cache key, so a spliced render
never takes the place of a whole-sentence one. The pause at each join follows the punctuation
there (none, comma, full stop); prompts.joins trims and joins the audio.

A contact's value is spliced word by word where its words repeat across contacts: a name is its
words ("Tomás", "Ruiz", "Muñoz"), an amount its groups ("catorce mil", "quinientos veinticinco
pesos"), joined inside the part by WORD. Every word but a value's last is said as if a comma
followed it (the voice goes on, as inside a phrase), so most contacts' audio is all from words
already spoken: the synthesiser is seldom needed once a worker has warmed up.
"""

from __future__ import annotations

from collections.abc import Sequence

SEP = "\x1f"  # ASCII unit separator: never in a template
WORD = "\x1e"  # ASCII record separator: the joins inside one part (a value said word by word)
GAP_MS = {"word": 20, "clause": 70, "sentence": 100}  # added at a join, by its punctuation
CLOSING = ".,;:!?…"


def spliced(parts: Sequence[str]) -> str:
    """The text of a spliced render (one part: the plain text)."""
    return SEP.join(parts)


def parts_of(text: str) -> list[str]:
    return text.split(SEP)


def worded(words: Sequence[str]) -> str:
    """One part said word by word (words with nothing to say are dropped)."""
    return WORD.join(w for w in words if spoken(w))


def words_of(part: str) -> list[tuple[str, str]]:
    """A part's words, each as (its text at the join, what the synthesiser says for it)."""
    words = part.split(WORD)
    last = len(words) - 1
    return [(w, spoken(w) if i == last else spoken(w).rstrip(CLOSING) + ",") for i, w in enumerate(words)]


def spoken(part: str) -> str:
    """What the synthesiser says for a part: without the punctuation that belongs to the join."""
    return part.strip().lstrip(CLOSING).strip()


def gap_ms(left: str, right: str) -> int:
    """The pause at the join of two parts, from the punctuation between them."""
    marks = left.rstrip()[-1:] + right.lstrip()[:1]
    if any(c in ".!?…" for c in marks):
        return GAP_MS["sentence"]
    if any(c in ",;:" for c in marks):
        return GAP_MS["clause"]
    return GAP_MS["word"]
