"""Secrets handling: password hashing, digest HA1s, tokens."""
