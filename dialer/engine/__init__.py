"""The daemon's core: the run loop and drain, call tracking, pacing, the recorder, the IVR it hosts."""

from dialer.engine.daemon import SWITCH_INTERVAL_S, Engine

__all__ = ["SWITCH_INTERVAL_S", "Engine"]
