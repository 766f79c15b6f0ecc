"""Phone auto-provisioning: inventory, per-vendor templates, HTTPS and TFTP file service, SIP PnP."""
