"""First boot: the set-up wizard's system settings (host name, time, SIP domain, cards) and the console menu."""
