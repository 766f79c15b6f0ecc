"""High-volume records (audit log, CDRs, queue log, agent state log, IVR journeys) in SQLite (WAL)."""
