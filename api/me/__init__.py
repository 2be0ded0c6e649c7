"""`/v1/me`: the signed-in person's own profile, export and account deletion."""
