"""PostgreSQL access: connection pools, migrations and the named SQL queries."""
