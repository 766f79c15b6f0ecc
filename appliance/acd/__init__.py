"""ACD: queues, agents, skills, strategies, VIP, overflow and agent states as a pure engine.

`AcdEngine` takes commands (`appliance.acd.commands`) and time, returns actions (`appliance.acd.actions`)
and publishes events (`appliance.acd.events`); configuration is `appliance.acd.models`.
"""

from appliance.acd.engine import AcdEngine

__all__ = ["AcdEngine"]
