"""Prompt audio and text.

- tts: TTS backends (espeak-ng offline, gTTS online); audio: WAV bytes for Asterisk;
- cache: content-addressed renders; speech: amounts and dates in words (es, en, pl);
- templates: every sentence of the built-in flows per language, with operator overrides;
- the fast espeak-ng path: espeak_lib (libespeak-ng in process), resample (22,050 -> 8,000 Hz),
  splice and joins (personal sentences from segments), espeak_render, render_pool (workers).
"""
