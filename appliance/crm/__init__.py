"""CRM: the box's adapters to a customer's CRM system, over the network.

Kept apart from the ACD on purpose: the ACD is pure (commands and a clock in, actions out) and only says
"look this caller up" (`appliance.acd.actions.LookupVip`); this package carries that out with an HTTP
client and answers with the ACD's own command (`VipLookupResult`). Call control wires the two together.
"""
