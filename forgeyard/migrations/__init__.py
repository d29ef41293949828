"""Alembic migrations of every table (``forgeyard db upgrade``); ``env.py`` is Alembic's entry."""
