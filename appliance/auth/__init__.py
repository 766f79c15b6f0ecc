"""People's access: the one-time setup token, login sessions, roles and login brute-force lockout."""
