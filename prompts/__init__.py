"""Prompt audio and text.

- tts: TTS backends (espeak-ng offline, gTTS online); audio: conversion for Asterisk;
- cache: content-addressed renders; speech: amounts and dates in words (es, en, pl);
- templates: every sentence of the built-in flows per language, with operator overrides.

Still to come (prompts issue): rendering everything a campaign will play before it dials
(`dialer prompts render`), the daemon's refusal to start without them, and bench/prompts.py.
"""
