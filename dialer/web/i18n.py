"""The dashboard's labels in English, Spanish and Polish, and which language a reader gets.

Result and outcome words (busy, transferred, ...) are labelled too; a word without a label shows
as itself. Every language has every key (tests/test_web_unit.py checks it).
"""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Dialer", "campaigns": "Campaigns", "campaign": "Campaign", "state": "State",
        "progress": "Progress", "live_calls": "Live calls", "contact_rate": "Contact rate", "attempts": "Attempts",
        "contacts": "Contacts", "calls_per_s": "Calls/s", "outcomes": "Results and outcomes", "result": "Result",
        "funnel": "Drop-off funnel", "step": "Step", "entered": "Entered", "hung_up_early": "Hung up early",
        "key_paths": "Most common key paths", "key_path": "Key path", "promises": "Promises to pay",
        "promised_amount": "Amount promised", "transfers": "Transfers", "transfer_rate": "Transfer rate",
        "agent_answered": "Agent answered", "queue_wait": "Average queue wait (s)", "hourly": "Attempts and contacts per hour (UTC)",
        "connected": "Connected", "reached": "Contacts reached", "pause": "Pause", "resume": "Resume", "stop": "Stop",
        "confirm_pause": "Pause this campaign? Live calls go on; no new calls leave.",
        "confirm_resume": "Resume this campaign?", "confirm_stop": "Stop this campaign for good? This cannot be undone.",
        "audit": "Audit trail", "when": "When", "who": "Who", "what": "What", "log_in": "Log in", "log_out": "Log out",
        "user": "User", "password": "Password", "bad_login": "Wrong user or password.", "none": "none yet",
        "updated": "Updated", "machine": "Answering machines", "avg_call": "Average call time (s)",
        "no_campaigns": "No campaigns yet.", "done": "done", "report": "Report", "generated": "Generated",
        "live_here": "Live calls on this host",
    },
    "es": {
        "title": "Marcador", "campaigns": "Campañas", "campaign": "Campaña", "state": "Estado",
        "progress": "Avance", "live_calls": "Llamadas en curso", "contact_rate": "Tasa de contacto",
        "attempts": "Intentos", "contacts": "Contactos", "calls_per_s": "Llamadas/s",
        "outcomes": "Resultados", "result": "Resultado", "funnel": "Embudo de abandono", "step": "Paso",
        "entered": "Entraron", "hung_up_early": "Colgaron antes", "key_paths": "Recorridos de teclas más comunes",
        "key_path": "Recorrido", "promises": "Promesas de pago", "promised_amount": "Importe prometido",
        "transfers": "Transferencias", "transfer_rate": "Tasa de transferencia", "agent_answered": "Atendidas por un agente",
        "queue_wait": "Espera media en cola (s)", "hourly": "Intentos y contactos por hora (UTC)", "connected": "Conectadas",
        "reached": "Contactos logrados", "pause": "Pausar", "resume": "Reanudar", "stop": "Detener",
        "confirm_pause": "¿Pausar esta campaña? Las llamadas en curso siguen; no salen llamadas nuevas.",
        "confirm_resume": "¿Reanudar esta campaña?", "confirm_stop": "¿Detener esta campaña definitivamente? No se puede deshacer.",
        "audit": "Registro de auditoría", "when": "Cuándo", "who": "Quién", "what": "Qué", "log_in": "Entrar",
        "log_out": "Salir", "user": "Usuario", "password": "Contraseña", "bad_login": "Usuario o contraseña incorrectos.",
        "none": "todavía nada", "updated": "Actualizado", "machine": "Contestadores", "avg_call": "Duración media (s)",
        "no_campaigns": "Todavía no hay campañas.", "done": "hecho", "report": "Informe", "generated": "Generado",
        "live_here": "Llamadas en curso en este servidor",
        "busy": "ocupado", "no_answer": "sin respuesta", "congestion": "congestión", "invalid_number": "número inválido",
        "failed": "fallida", "answered": "contestada", "transferred": "transferida", "identity_failed": "identidad fallida",
        "opted_out": "baja solicitada", "unknown": "desconocido", "ivr_error": "error del IVR",
        "draft": "borrador", "active": "activa", "paused": "pausada", "stopped": "detenida", "finished": "terminada",
    },
    "pl": {
        "title": "Dialer", "campaigns": "Kampanie", "campaign": "Kampania", "state": "Stan", "progress": "Postęp",
        "live_calls": "Trwające połączenia", "contact_rate": "Wskaźnik kontaktu", "attempts": "Próby",
        "contacts": "Kontakty", "calls_per_s": "Połączenia/s", "outcomes": "Wyniki", "result": "Wynik",
        "funnel": "Lejek rezygnacji", "step": "Krok", "entered": "Weszło", "hung_up_early": "Rozłączyło się wcześniej",
        "key_paths": "Najczęstsze ścieżki klawiszy", "key_path": "Ścieżka", "promises": "Obietnice zapłaty",
        "promised_amount": "Obiecana kwota", "transfers": "Przekierowania", "transfer_rate": "Odsetek przekierowań",
        "agent_answered": "Odebrane przez konsultanta", "queue_wait": "Średni czas w kolejce (s)",
        "hourly": "Próby i kontakty na godzinę (UTC)", "connected": "Połączone", "reached": "Osiągnięte kontakty",
        "pause": "Wstrzymaj", "resume": "Wznów", "stop": "Zatrzymaj",
        "confirm_pause": "Wstrzymać tę kampanię? Trwające połączenia trwają dalej; nowe nie wychodzą.",
        "confirm_resume": "Wznowić tę kampanię?", "confirm_stop": "Zatrzymać tę kampanię na stałe? Tego nie można cofnąć.",
        "audit": "Dziennik audytu", "when": "Kiedy", "who": "Kto", "what": "Co", "log_in": "Zaloguj",
        "log_out": "Wyloguj", "user": "Użytkownik", "password": "Hasło", "bad_login": "Błędny użytkownik lub hasło.",
        "none": "jeszcze nic", "updated": "Zaktualizowano", "machine": "Automatyczne sekretarki",
        "avg_call": "Średni czas rozmowy (s)", "no_campaigns": "Nie ma jeszcze kampanii.", "done": "gotowe",
        "report": "Raport", "generated": "Wygenerowano",
        "live_here": "Trwające połączenia na tym serwerze",
        "busy": "zajęte", "no_answer": "brak odpowiedzi", "congestion": "przeciążenie", "invalid_number": "błędny numer",
        "failed": "nieudane", "answered": "odebrane", "transferred": "przekierowane", "identity_failed": "tożsamość niepotwierdzona",
        "opted_out": "rezygnacja", "unknown": "nieznany", "ivr_error": "błąd IVR",
        "draft": "szkic", "active": "aktywna", "paused": "wstrzymana", "stopped": "zatrzymana", "finished": "zakończona",
    },
}


class Labels(dict[str, str]):
    """Labels of one language; an unknown key (a result word English needs no label for) is itself."""

    def __missing__(self, key: str) -> str:
        return LABELS["en"].get(key, key.replace("_", " "))


def labels_for(language: str) -> Labels:
    return Labels(LABELS.get(language, LABELS["en"]))


def pick_language(asked: str | None, users: str | None, accept: str, default: str) -> str:
    """The reader's language: asked for (?lang= or its cookie), the user's, the browser's, the default."""
    for choice in (asked, users):
        if choice in LABELS:
            return choice
    for part in accept.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LABELS:
            return code
    return default
