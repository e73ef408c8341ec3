from tests.storage.fixtures import db_url, engine_url, pg_database_url

__all__ = ["db_url", "engine_url", "pg_database_url"]
