"""libespeak-ng inside this process: one synthesiser that speaks exactly like the espeak-ng program.

The library is not thread-safe (one synthesiser per process, behind a lock) and keeps state
from one text to the next in static variables (pitch flutter, wave phase, echo buffer, libc's
rand() for breath noise), so the same text would come out slightly different each time. After
loading a voice, the synthesiser copies the library's writable data (.data and .bss, past the
read-only RELRO part) and puts it back before every text, and reseeds rand(): every text is
then spoken from the state of a fresh `espeak-ng` process, sample for sample (a self-check at
load proves it; tests compare with the program). Output: 22,050 Hz mono 16-bit PCM.
"""

from __future__ import annotations

import ctypes
import logging
import os
import struct
import threading

log = logging.getLogger(__name__)

LIBRARY = "libespeak-ng.so.1"  # DIALER_ESPEAK_LIBRARY names another (or a missing one, to test the fallback)
RATE = 22050
AUDIO_OUTPUT_SYNCHRONOUS, POS_CHARACTER, RTLD_DI_LINKMAP = 2, 1, 2
BUFFER_MS = 1000  # audio per callback: fewer calls into Python (the samples are the same)
CHARS_AUTO, PHONEMES, ENDPAUSE = 0, 0x100, 0x1000
FLAGS = CHARS_AUTO | PHONEMES | ENDPAUSE  # what the espeak-ng program passes
PT_LOAD, PT_GNU_RELRO, PF_W = 1, 0x6474E552, 2
CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
PROBE = ("uno dos tres", "Hola, ¿cómo está?")


class LibraryError(RuntimeError):
    """libespeak-ng cannot be used in this process (missing, or not reproducible)."""


def _writable_data(handle: int) -> tuple[int, int]:
    """(address, size) of the library's writable data that stays writable after relocation."""
    libc = ctypes.CDLL(None)
    link_map = ctypes.c_void_p()
    if libc.dlinfo(ctypes.c_void_p(handle), RTLD_DI_LINKMAP, ctypes.byref(link_map)) != 0:
        raise LibraryError("dlinfo failed on libespeak-ng")
    assert link_map.value is not None
    base = ctypes.c_size_t.from_address(link_map.value).value  # struct link_map: l_addr, l_name, ...
    path = ctypes.c_char_p.from_address(link_map.value + ctypes.sizeof(ctypes.c_size_t)).value or b""
    with open(path, "rb") as fh:
        elf = fh.read(64)
        if elf[:6] != b"\x7fELF\x02\x01":
            raise LibraryError(f"{path.decode()}: not a 64-bit little-endian ELF file")
        (phoff,) = struct.unpack_from("<Q", elf, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
        fh.seek(phoff)
        headers = fh.read(phentsize * phnum)
    writable: tuple[int, int] | None = None
    relro_end = 0
    for i in range(phnum):
        p_type, p_flags, _off, vaddr, _pa, _filesz, memsz, _al = struct.unpack_from("<IIQQQQQQ", headers, i * phentsize)
        if p_type == PT_LOAD and p_flags & PF_W:
            writable = (vaddr, vaddr + memsz)
        elif p_type == PT_GNU_RELRO:
            relro_end = vaddr + memsz
    if writable is None:
        raise LibraryError(f"{path.decode()}: no writable segment")
    start = max(writable[0], relro_end)
    return base + start, writable[1] - start


class EspeakLibrary:
    """libespeak-ng loaded once in this process; `pcm(text, voice)` is the same on every call."""

    def __init__(self, name: str | None = None) -> None:
        name = name or os.environ.get("DIALER_ESPEAK_LIBRARY") or LIBRARY
        try:
            self._lib = ctypes.CDLL(name)
            self._lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                               ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]  # fmt: skip
            self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        except (OSError, AttributeError) as exc:  # missing, or not libespeak-ng
            raise LibraryError(f"cannot load {name}: {exc}") from None
        self._libc = ctypes.CDLL(None)
        rate = self._lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, BUFFER_MS, None, 0)
        if rate != RATE:
            raise LibraryError(f"{name}: espeak_Initialize gave {rate}, expected {RATE} Hz")
        self._out = bytearray()
        self._callback = CALLBACK(self._collect)  # kept alive as long as the library may call it
        self._lib.espeak_SetSynthCallback(self._callback)
        self._address, self._size = _writable_data(self._lib._handle)
        self._saved = b""
        self._voice: str | None = None
        self._lock = threading.Lock()
        self._check(PROBE, "es")

    def _collect(self, wav: ctypes.Array[ctypes.c_short], samples: int, _events: int) -> int:
        if samples > 0:
            self._out += ctypes.string_at(wav, samples * 2)
        return 0

    def _speak(self, text: str, flags: int) -> bytes:
        self._out.clear()
        data = text.encode()
        status = self._lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, flags, None, None)
        self._lib.espeak_Synchronize()
        if status != 0:
            raise LibraryError(f"espeak_Synth failed ({status}) on {text[:40]!r}")
        return bytes(self._out)

    def _load(self, voice: str) -> None:
        if self._saved:
            ctypes.memmove(self._address, self._saved, self._size)  # heap and statics agree again
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            self._voice = None
            raise LibraryError(f"libespeak-ng has no voice {voice!r}")
        self._speak("", PHONEMES)  # applies the queued voice change (and frees its copy) before the copy
        self._saved = ctypes.string_at(self._address, self._size)
        self._voice = voice

    def pcm(self, text: str, voice: str) -> bytes:
        """22,050 Hz mono 16-bit samples of `text`, identical for identical input."""
        with self._lock:
            if voice != self._voice:
                self._load(voice)
            ctypes.memmove(self._address, self._saved, self._size)
            self._libc.srand(1)
            return self._speak(text, FLAGS)

    def _check(self, texts: tuple[str, str], voice: str) -> None:
        first = self.pcm(texts[0], voice)
        self.pcm(texts[1], voice)
        if not first or self.pcm(texts[0], voice) != first:
            raise LibraryError("libespeak-ng does not give the same samples twice in this process")


_shared: EspeakLibrary | None = None
_failure: str | None = None
_shared_lock = threading.Lock()


def shared() -> EspeakLibrary:
    """This process's synthesiser (loaded on first use); LibraryError, remembered, if unusable."""
    global _shared, _failure
    with _shared_lock:
        if _shared is None and _failure is None:
            try:
                _shared = EspeakLibrary()
            except LibraryError as exc:
                _failure = str(exc)
                log.warning("%s: espeak-ng runs as a program per segment instead", exc)
        if _shared is None:
            raise LibraryError(_failure or "libespeak-ng unavailable")
        return _shared
