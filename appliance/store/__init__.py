"""Durable storage: the configuration store (TinyDB, atomic writes) and its migrations."""
