"""Nodes that end the IVR by handing the call on: to a queue, an extension, voicemail or an outside number.

Pure: what call control must do, how the journey ends, and where the call went (for the summary).
"""

from __future__ import annotations

from collections.abc import Mapping

from appliance.ivr.actions import (
    Action,
    TransferToExtension,
    TransferToExternal,
    TransferToQueue,
    TransferToVoicemail,
)
from appliance.ivr.journey import ExitReason
from appliance.ivr.models import ExtensionNode, ExternalNode, Node, QueueNode, VoicemailNode
from appliance.ivr.templates import render


def handover(node: Node, variables: Mapping[str, str], vip: bool) -> tuple[Action, ExitReason, str] | None:
    """(action, exit reason, destination) for a hand-over node; None for any other node."""
    if isinstance(node, QueueNode):
        # The queue gets the call's variables: the ACD and the agent's screen pop use what the caller said.
        action = TransferToQueue(
            queue=node.queue, skill=node.skill, priority=node.priority, vip=vip, variables=dict(variables)
        )
        return action, ExitReason.TRANSFERRED_TO_AGENT, node.queue
    if isinstance(node, ExtensionNode):
        return TransferToExtension(extension=node.extension), ExitReason.TRANSFERRED_TO_AGENT, node.extension
    if isinstance(node, VoicemailNode):
        return TransferToVoicemail(box=node.box), ExitReason.VOICEMAIL, node.box
    if isinstance(node, ExternalNode):
        number = render(node.number, variables)
        return TransferToExternal(number=number), ExitReason.TRANSFERRED_EXTERNAL, number
    return None
