"""Voicemail boxes: messages left on queue overflow and off hours, listened to, downloaded, marked handled."""
