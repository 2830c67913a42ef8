"""Live events for wallboards and CRMs: what the engine and the IVR publish, and the MQTT publisher.

The engine calls `EventSink.publish(kind, payload)`, which never awaits and never raises, so a
broker that is down or slow never holds a call up. `MqttPublisher` keeps a bounded in-memory
buffer (when it is full the oldest event is dropped and counted), sends the events in order
with QoS 1 from one task, and reconnects with backoff. Delivery is at least once: after a
reconnect the events the broker had not acknowledged are sent again; `seq` tells repeats apart.
`LiveEvents` builds the payloads (the engine's and the IVR's single place for them) and
publishes each campaign's progress, at most once per `every_s` per campaign.

Topics (README, "Live events (MQTT)"):
    <prefix>/<node>/campaign/<campaign_id>/attempt/<attempt_id>/<event>
    <prefix>/<node>/campaign/<campaign_id>/progress          (retained)
"""

from dialer.events.live import LiveEvents
from dialer.events.mqtt import MqttPublisher
from dialer.events.sink import ATTEMPT_EVENTS, PROGRESS, EventSink, NullSink, mask_number, topic_for

__all__ = ["ATTEMPT_EVENTS", "PROGRESS", "EventSink", "LiveEvents", "MqttPublisher", "NullSink", "mask_number",
           "topic_for"]  # fmt: skip
