"""Signal processing for analog lines: FSK and DTMF caller ID, call-progress tone cadences (sans-IO, numpy)."""
