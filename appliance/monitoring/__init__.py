"""Health of the box (psutil), alarms with hysteresis and flap damping, the alarm table kept across restarts."""
