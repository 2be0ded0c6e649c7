"""Admin only: staff and facilitator accounts, and the audit log."""
