"""E1/PRI: the span (framing, alarms), LAPD (Q.921) and Q.931 EuroISDN stacks in both roles, and the leg
provider that turns B-channels into call legs and frame ports."""
