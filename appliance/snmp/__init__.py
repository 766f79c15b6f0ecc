"""SNMP for the NOC: the enterprise MIB, an agent (pysnmp, v2c and v3 USM) reading live figures, and
notifications for alarms and the box's events."""
