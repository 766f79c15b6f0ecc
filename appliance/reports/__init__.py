"""Reports over the record store: half-hour roll-ups kept by the journal's writer, and report definitions."""
