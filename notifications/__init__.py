"""Push notifications (templates, outbox, sender, dispatch) live here; see issue 5.

Imports point one way: `api/` -> `notifications/` -> `db/`."""
