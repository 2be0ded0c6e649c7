"""Devices, notification preferences, the inbox, and staff messages."""
