"""The work-order system's data: domain enums, Temporal payloads, database tables and
API models, each in its own module."""
