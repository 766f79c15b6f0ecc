"""The box's firmware: the root slots RAUC manages, installing an update bundle, rebooting and factory reset."""
