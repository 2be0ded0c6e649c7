"""The data layer: schema, migrations and every SQL statement, as typed async functions
that take an asyncpg connection. Nothing outside `db/` writes SQL."""
