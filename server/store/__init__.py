"""Every SQL statement of the server, by resource; the rest of the server calls these functions.

The functions take a SQLAlchemy `Connection` (reads) or open a write transaction themselves when
a whole operation must be atomic; they return plain rows or dataclasses and know nothing of HTTP.
The tables are described in `server.db`.
"""
