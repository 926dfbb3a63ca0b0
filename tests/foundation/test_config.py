"""Settings: defaults, and one clear line naming the variable for every wrong value."""

from pathlib import Path

import pytest

from discovery import synth
from marketplace.config import ConfigError, load_settings


def test_defaults_need_no_variables(tmp_path: Path) -> None:
    settings = load_settings({"MARKETPLACE_DATA_DIR": str(tmp_path)})
    assert settings.embedded_database and settings.embedded_redis
    assert settings.rights_backend == "postgres"
    assert settings.secret_key_is_generated and len(settings.secret_key) >= 32
    assert settings.demo_tracks == synth.CATALOGUE_SIZE, "the demo is the whole synthetic catalogue"


def test_generated_secret_is_kept_across_restarts(tmp_path: Path) -> None:
    first = load_settings({"MARKETPLACE_DATA_DIR": str(tmp_path)}).secret_key
    assert load_settings({"MARKETPLACE_DATA_DIR": str(tmp_path)}).secret_key == first


def test_configured_urls_are_used(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "MARKETPLACE_DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgresql://u@db/x",
            "REDIS_URL": "redis://r:6379/0",
        }
    )
    assert settings.database_url == "postgresql://u@db/x"
    assert not settings.embedded_database and not settings.embedded_redis


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_URL", "mysql://db/x", "DATABASE_URL must be a URL of the form postgres://"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL must be a URL"),
        ("SECRET_KEY", "short", "SECRET_KEY must be at least 32 characters"),
        ("RIGHTS_BACKEND", "neo4j", "RIGHTS_BACKEND must be postgres or arango"),
        ("RIGHTS_BACKEND", "arango", "RIGHTS_BACKEND=arango needs ARANGO_URL"),
        ("BIDS_PER_SECOND", "many", "BIDS_PER_SECOND must be a positive whole number"),
        ("UPLOAD_LIMIT_BYTES", "-5", "UPLOAD_LIMIT_BYTES must be a positive whole number"),
        ("COOKIE_SECURE", "maybe", "COOKIE_SECURE must be true or false"),
        ("DEMO_TRACKS", "0", "DEMO_TRACKS must be a positive whole number"),
    ],
)
def test_wrong_value_is_named_with_what_is_expected(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({"MARKETPLACE_DATA_DIR": str(tmp_path), variable: value})


def test_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ConfigError, match="MARKETPLACE_DATA_DIR must be a directory"):
        load_settings({"MARKETPLACE_DATA_DIR": str(afile)})
