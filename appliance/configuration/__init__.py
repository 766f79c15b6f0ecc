"""Configuration service: CRUD over the entity kinds with write-only secrets, staff leave/reinstate and audit."""
