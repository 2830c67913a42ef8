"""Prompt audio: TTS backends (tts), conversion for Asterisk (audio), the cache (cache).

Still to come here (prompts issue): templates per language, native verbalisation of amounts
and dates, and rendering everything a campaign will play before it dials.
"""
