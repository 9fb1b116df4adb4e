"""The SQL store (SQLAlchemy 2 + Alembic): SQLite by default, PostgreSQL for teams."""
