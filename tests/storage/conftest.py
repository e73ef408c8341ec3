from tests.storage.fixtures import backend, db_url, engine_url, pg_database_url

__all__ = ["backend", "db_url", "engine_url", "pg_database_url"]
