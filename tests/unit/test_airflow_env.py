"""Secrets generated at set-up (popdata.airflow_env): files 0600 in a 0700 folder, stable, env wins."""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from cryptography.fernet import Fernet

from popdata import airflow_env
from popdata.config.settings import Settings, load_settings

SECRET_NAMES = tuple(airflow_env.SECRET_FILES)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings whose ``var/`` is a fresh temporary folder, with no secret in the environment."""
    for name in SECRET_NAMES:
        for suffix in ("", "_CMD", "_SECRET"):
            monkeypatch.delenv(name + suffix, raising=False)
    monkeypatch.delenv("AIRFLOW_HOME", raising=False)
    monkeypatch.delenv("AIRFLOW_CONFIG", raising=False)
    yield dataclasses.replace(load_settings(), var=tmp_path / "var")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generates_every_secret_with_private_modes(settings: Settings) -> None:
    values = airflow_env.generated_secrets(settings)
    folder = settings.var / "secrets"
    assert set(values) == set(SECRET_NAMES)
    assert _mode(folder) == 0o700
    for name, file_name in airflow_env.SECRET_FILES.items():
        path = folder / file_name
        assert _mode(path) == 0o600, path
        assert path.read_text(encoding="utf-8").strip() == values[name]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        airflow_env.SECRET_FILES.values()
    )  # no temp left
    Fernet(values["AIRFLOW__CORE__FERNET_KEY"].encode())  # a valid Fernet key
    assert len(values["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 64


def test_secrets_are_stable_across_runs(settings: Settings) -> None:
    first = airflow_env.generated_secrets(settings)
    assert airflow_env.generated_secrets(settings) == first
    environment = airflow_env.airflow_environment(settings, "postgresql+psycopg://postgres@127.0.0.1/airflow")
    for name in SECRET_NAMES:
        assert environment[name] == first[name]


def test_modes_are_private_even_with_a_permissive_umask(settings: Settings) -> None:
    old = os.umask(0)
    try:
        airflow_env.generated_secrets(settings)
    finally:
        os.umask(old)
    folder = settings.var / "secrets"
    assert _mode(folder) == 0o700
    assert {_mode(p) for p in folder.iterdir()} == {0o600}


def test_loose_modes_of_existing_files_are_corrected(settings: Settings) -> None:
    first = airflow_env.generated_secrets(settings)
    folder = settings.var / "secrets"
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)
    assert airflow_env.generated_secrets(settings) == first
    assert _mode(folder) == 0o700
    assert {_mode(p) for p in folder.iterdir()} == {0o600}


def test_environment_values_win_and_no_file_is_written(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fernet = Fernet.generate_key().decode()
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", fernet)
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET_CMD", "cat /run/secrets/jwt")
    monkeypatch.setenv("AIRFLOW__API__SECRET_KEY_SECRET", "popdata/api_secret_key")
    values = airflow_env.generated_secrets(settings)
    # Set directly: passed through. Via _CMD/_SECRET: left to Airflow (a plain variable would win).
    assert values == {"AIRFLOW__CORE__FERNET_KEY": fernet}
    assert not (settings.var / "secrets").exists()


def test_apply_keeps_a_value_the_environment_sets(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fernet = Fernet.generate_key().decode()
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", fernet)
    with mock.patch.dict(os.environ):  # apply() writes into os.environ: restored afterwards
        effective = airflow_env.apply(settings, "postgresql+psycopg://postgres@127.0.0.1/airflow")
    assert effective["AIRFLOW__CORE__FERNET_KEY"] == fernet
    assert not (settings.var / "secrets" / "fernet_key").exists()
    jwt = (settings.var / "secrets" / "jwt_secret").read_text(encoding="utf-8").strip()
    assert effective["AIRFLOW__API_AUTH__JWT_SECRET"] == jwt


def test_fernet_key_of_an_existing_airflow_cfg_is_adopted(settings: Settings) -> None:
    old_key = Fernet.generate_key().decode()
    settings.airflow_home.mkdir(parents=True)
    (settings.airflow_home / "airflow.cfg").write_text(
        f"[core]\ndags_folder = /x\nfernet_key = {old_key}\n", encoding="utf-8"
    )
    assert airflow_env.generated_secrets(settings)["AIRFLOW__CORE__FERNET_KEY"] == old_key


def test_a_broken_fernet_key_file_is_an_error_not_replaced(settings: Settings) -> None:
    folder = airflow_env.secrets_dir(settings)
    broken = folder / "fernet_key"
    broken.write_text("not-a-fernet-key\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="not hold a valid Fernet key"):
        airflow_env.generated_secrets(settings)
    assert broken.read_text(encoding="utf-8") == "not-a-fernet-key\n"


def test_a_too_short_jwt_secret_is_regenerated(settings: Settings) -> None:
    folder = airflow_env.secrets_dir(settings)
    (folder / "jwt_secret").write_text("short", encoding="utf-8")
    values = airflow_env.generated_secrets(settings)
    assert len(values["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 64
    assert _mode(folder / "jwt_secret") == 0o600
