"""Call control: the only place that knows SIP, media, ACD and IVR, and turns them into calls."""
