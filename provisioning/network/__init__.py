"""Network settings through pyroute2: live apply with confirm-or-revert, systemd-networkd files for boot."""
