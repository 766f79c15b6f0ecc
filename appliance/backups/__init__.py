"""Scheduled backups and restore of the data directory, driven through restic (local, removable, SFTP)."""
