"""Names as a contact base has them: a few first names and surnames are very common, most are rare.

First names and surnames are drawn by rank with Zipf's law (share of rank r ~ 1/r): 96 first
names, and 7,200 surnames made of Spanish-sounding stems, middles and endings (so that the rare
ones are as rare as in a real base: the 1,000 commonest cover about 79% of the surnames drawn).
A cache of spoken words therefore sees the misses a real base gives it, not 40 words repeated.
"""

from __future__ import annotations

import numpy as np

FIRST_NAMES = [
    "María", "José", "Ana", "Juan", "Carmen", "Antonio", "Laura", "Manuel", "Isabel", "Francisco", "Lucía", "David",
    "Marta", "Javier", "Elena", "Daniel", "Cristina", "Carlos", "Paula", "Miguel", "Sara", "Alejandro", "Rosa",
    "Rafael", "Pilar", "Pedro", "Raquel", "Pablo", "Teresa", "Ángel", "Beatriz", "Sergio", "Silvia", "Fernando",
    "Nuria", "Jorge", "Patricia", "Luis", "Irene", "Alberto", "Julia", "Álvaro", "Andrea", "Adrián", "Mónica",
    "Diego", "Rocío", "Raúl", "Eva", "Enrique", "Alicia", "Ramón", "Inés", "Vicente", "Sonia", "Iván", "Sofía",
    "Rubén", "Lorena", "Óscar", "Natalia", "Andrés", "Clara", "Joaquín", "Alba", "Santiago", "Marina", "Eduardo",
    "Noelia", "Víctor", "Claudia", "Roberto", "Verónica", "Jaime", "Susana", "Mario", "Gloria", "Ignacio",
    "Esther", "Alfonso", "Begoña", "Salvador", "Lidia", "Ricardo", "Olga", "Emilio", "Amparo", "Gabriel",
    "Yolanda", "Tomás", "Nerea", "Hugo", "Ainhoa", "Marcos", "Carla", "Gonzalo",
]  # fmt: skip
STEMS = ["Gar", "Fer", "Rodr", "Mart", "Lóp", "Gonz", "Sánch", "Pér", "Góm", "Mor", "Jim", "Hern", "Ru", "Dí",
         "Álv", "Muñ", "Rom", "Al", "Gut", "Nav", "Tor", "Dom", "Váz", "Ram", "Gil", "Ser", "Bl", "Mol", "Su",
         "Ort", "Delg", "Cast", "Rub", "Mar", "Sanz", "Ib", "Cort", "Med", "Carr", "Cal", "Vid", "Igl", "Herr",
         "Pasc", "Fuent", "Cab", "Rey", "Vel"]  # fmt: skip
MIDDLES = ["", "ar", "en", "il", "or", "ab"]
ENDINGS = ["ez", "cía", "ández", "ínez", "ero", "illo", "ado", "eda", "ales", "anda", "uez", "era", "oso", "ano",
           "ino", "és", "ón", "al", "ar", "iz", "ega", "ela", "ote", "ina", "ueta"]  # fmt: skip
SURNAMES = [stem + middle + end for middle in MIDDLES for end in ENDINGS for stem in STEMS]


def _ranks(rng: np.random.Generator, count: int, size: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, count + 1)
    return rng.choice(count, size=size, p=weights / weights.sum())


def people(n: int, seed: int = 7) -> list[str]:
    """n names: a first name and two surnames each, the same list for the same n and seed."""
    rng = np.random.default_rng(seed)
    first = _ranks(rng, len(FIRST_NAMES), n)
    last = _ranks(rng, len(SURNAMES), 2 * n)
    return [f"{FIRST_NAMES[first[i]]} {SURNAMES[last[2 * i]]} {SURNAMES[last[2 * i + 1]]}" for i in range(n)]
