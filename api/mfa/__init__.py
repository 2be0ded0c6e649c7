"""Two-factor sign-in with an authenticator app (TOTP, RFC 6238) and recovery codes."""
