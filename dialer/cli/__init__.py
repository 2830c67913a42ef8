"""The `dialer` command groups (typer sub-apps) and their rich views; the top-level cli.py composes them."""
