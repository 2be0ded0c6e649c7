"""Peer support groups: listing, membership and waitlist, sessions, RSVPs, attendance,
facilitator tools, calendar feeds and the Meeting Guide feed."""
