"""Check-ins: plans and their slots, submissions, risk rules, missed check-ins and alerts."""
