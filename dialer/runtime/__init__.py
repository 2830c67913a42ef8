"""Process-wide helpers any layer may use: the Prometheus registry and metrics (`metrics`), and
stopping asyncio tasks for sure (`tasks`). A leaf like dialer.domain: it imports nothing of the
dialer, so storage, the engine, events, sms and the web can all use it without a circle."""
