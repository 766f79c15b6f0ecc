"""Analog ports: FXO (PSTN lines) and FXS (analog phones)."""
