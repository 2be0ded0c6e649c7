"""Sign-in: activation codes, passwords, Firebase ID tokens, refresh and logout."""
