"""groupsync keeps Square customer groups in line with desired memberships kept in PostgreSQL."""

__version__ = "0.1.0"
