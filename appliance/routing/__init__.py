"""Inbound routing (入局路由): access numbers (DIDs), work-time schedules with holidays and special working
days, blacklist treatment and the VIP flag, evaluated purely from configuration and a wall-clock time."""
