"""Prompt templates per language and the text-to-speech / audio cache code.

Not built yet: this package is the home of the prompts issue's work. Rendered audio goes to
the cache directory (dialer.sandbox.instance.prompt_cache_dir), never into git.
"""
