"""Keyed pseudonyms (popdata.privacy): HMAC-SHA256 of normalised identifiers, keys, the CLI."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from popdata.cli import main
from popdata.privacy.pseudonym import (
    ENV_CONN_ID,
    ENV_KEY,
    KeyNotConfiguredError,
    PseudonymKey,
    digest_matches,
    digest_with_all,
    format_env_key,
    key_id_of,
    keyed_digest,
    load_key,
    load_keys,
    new_key,
    normalise_identifier,
    parse_env_keys,
)

# One person, as sent by different agencies: the old 15-digit number and its 18-character form.
ID_15 = "110105491231002"
ID_18 = "11010519491231002X"
OTHER_ID = "44030419850615100X"
SECRET = bytes(range(32))  # synthetic test key, not a real one
SECRET_2 = bytes(range(100, 132))
HEX = re.compile(r"[0-9a-f]{64}")


@pytest.fixture
def key() -> PseudonymKey:
    return PseudonymKey("k1", SECRET)


def _b64(secret: bytes) -> str:
    return base64.b64encode(secret).decode()


# --- digests ------------------------------------------------------------------------------------------


def test_same_digest_for_every_form_of_one_identity_number(key: PseudonymKey) -> None:
    forms = [
        ID_15,
        ID_18,
        ID_18.lower(),
        f" {ID_18} ",
        "１１０１０５１９４９１２３１００２Ｘ",
        f"'{ID_18}",
        "110105 19491231 002X",
    ]
    digests = {keyed_digest(form, key) for form in forms}
    assert len(digests) == 1
    assert normalise_identifier(ID_15) == ID_18
    assert keyed_digest(OTHER_ID, key) not in digests


def test_digest_is_hmac_sha256_with_the_key_id_prefix(key: PseudonymKey) -> None:
    digest = keyed_digest(ID_18, key)
    key_id, _, hex_part = digest.partition(":")
    assert key_id == "k1" and HEX.fullmatch(hex_part)
    import hmac

    assert hex_part == hmac.new(SECRET, ID_18.encode(), hashlib.sha256).hexdigest()
    assert hex_part != hashlib.sha256(ID_18.encode()).hexdigest()  # never a plain hash
    assert key_id_of(digest) == "k1"


def test_different_keys_give_different_digests(key: PseudonymKey) -> None:
    other = PseudonymKey("k1", SECRET_2)
    assert keyed_digest(ID_18, key) != keyed_digest(ID_18, other)
    assert keyed_digest(ID_18, key).split(":")[1] != keyed_digest(ID_18, other).split(":")[1]
    assert keyed_digest(ID_18, PseudonymKey("k2", SECRET)).startswith("k2:")


def test_invalid_and_non_id_identifiers(key: PseudonymKey) -> None:
    bad_check = ID_18[:-1] + "1"  # wrong check character: kept as sent, not corrected
    assert normalise_identifier(bad_check.lower()) == bad_check
    assert keyed_digest(bad_check, key) != keyed_digest(ID_18, key)
    assert normalise_identifier("  ＡＢ-１２３ ") == "AB-123"  # NFKC + strip
    assert normalise_identifier("张 三") == "张 三"
    for blank in ("", "   ", "不详", "-", "NULL"):
        with pytest.raises(ValueError, match="no pseudonym"):
            keyed_digest(blank, key)


def test_digest_with_all_matches_digests_made_under_a_previous_key(key: PseudonymKey) -> None:
    old = key
    current = PseudonymKey("k2", SECRET_2)
    stored = keyed_digest(ID_15, old)  # made before the rotation
    digests = digest_with_all(ID_18, [current, old])
    assert digests[0].startswith("k2:") and digests[1] == stored
    assert stored in digests
    assert digest_matches(ID_18, stored, [current, old])
    assert not digest_matches(OTHER_ID, stored, [current, old])
    assert not digest_matches(ID_18, stored, [current])  # key k1 no longer known
    with pytest.raises(ValueError):
        key_id_of("deadbeef")


# --- keys -----------------------------------------------------------------------------------------------


def test_short_keys_and_bad_key_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        PseudonymKey("k1", b"x" * 31)
    with pytest.raises(ValueError, match="key id"):
        PseudonymKey("k:1", SECRET)
    with pytest.raises(ValueError, match="key id"):
        PseudonymKey("", SECRET)
    with pytest.raises(KeyNotConfiguredError, match="at least 32"):
        load_key({ENV_KEY: f"k1:{_b64(b'y' * 16)}"})


def test_missing_configuration_is_a_clear_error_not_a_default_key() -> None:
    with pytest.raises(KeyNotConfiguredError, match=f"{ENV_CONN_ID}.*{ENV_KEY}"):
        load_key({})
    with pytest.raises(KeyNotConfiguredError):
        load_key({ENV_KEY: "   "})
    for malformed in ("k1", f":{_b64(SECRET)}", "k1:not*base64!", f"k1:{_b64(SECRET)},k1:{_b64(SECRET_2)}"):
        with pytest.raises(KeyNotConfiguredError):
            load_keys({ENV_KEY: malformed})


def test_env_form_round_trip_and_rotation_order() -> None:
    current, old = PseudonymKey("k2", SECRET_2), PseudonymKey("k1", SECRET)
    value = f"{format_env_key(current)},{format_env_key(old)}"
    assert load_keys({ENV_KEY: value}) == (current, old)
    assert load_key({ENV_KEY: value}) == current
    urlsafe_unpadded = "k1:" + base64.urlsafe_b64encode(SECRET).decode().rstrip("=")
    assert parse_env_keys(urlsafe_unpadded) == (old,)


def test_the_secret_never_appears_in_repr_str_or_errors() -> None:
    marker = b"S3CRET-MARKER-" * 3
    key = PseudonymKey("k1", marker)
    forms = [marker.decode(), repr(marker), _b64(marker), marker.hex()]
    for text in (repr(key), str(key), f"{key}", repr([key])):
        assert "k1" in text
        assert not any(form in text for form in forms)
    short = b"S3CRET-SHORT"
    errors: list[BaseException] = []
    for attempt in (
        lambda: PseudonymKey("k1", short),
        lambda: load_key({ENV_KEY: f"k1:{_b64(short)}"}),
        lambda: load_key({ENV_KEY: "k1:" + "S3CRET-NOT-BASE64!!"}),
        lambda: load_key({ENV_KEY: f"bad id:{_b64(marker)}"}),
    ):
        with pytest.raises((ValueError, KeyNotConfiguredError)) as info:
            attempt()
        errors.append(info.value)
    for error in errors:
        text = f"{error!s} {error!r} {error.__cause__!r} {error.__context__!r}"
        assert "S3CRET" not in text and _b64(short) not in text and _b64(marker) not in text


def test_new_key_is_random_and_long_enough() -> None:
    a, b = new_key(), new_key("k2")
    assert a.key_id == "k1" and b.key_id == "k2"
    assert len(a.secret) >= 32 and a.secret != b.secret


def test_key_from_an_airflow_connection(tmp_path: Path) -> None:
    """Through Airflow's secrets backends (here: the AIRFLOW_CONN_* environment backend)."""
    conn = {"conn_type": "generic", "password": _b64(SECRET_2), "extra": {"key_id": "k7"}}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "POPDATA_HMAC"))}
    env.update(
        AIRFLOW_HOME=str(tmp_path / "airflow"),
        AIRFLOW_CONN_POPDATA_HMAC=json.dumps(conn),
        AIRFLOW_CONN_POPDATA_HMAC_NO_ID=json.dumps({"conn_type": "generic", "password": _b64(SECRET_2)}),
        POPDATA_HMAC_KEY=format_env_key(PseudonymKey("k1", SECRET)),  # the connection wins
    )
    script = """
import json, sys
from popdata.privacy.pseudonym import KeyNotConfiguredError, keyed_digest, load_key, load_keys
out = {"repr": repr(load_key()), "digest": keyed_digest(sys.argv[1], load_key())}
try:
    load_keys({"POPDATA_HMAC_CONN_ID": "popdata_hmac_missing"})
except KeyNotConfiguredError as exc:
    out["missing"] = str(exc)
try:
    load_keys({"POPDATA_HMAC_CONN_ID": "popdata_hmac_no_id"})
except KeyNotConfiguredError as exc:
    out["no_id"] = str(exc)
print("RESULT " + json.dumps(out))
"""
    env[ENV_CONN_ID] = "popdata_hmac"
    done = subprocess.run(
        [sys.executable, "-c", script, ID_15],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    out = json.loads(line.removeprefix("RESULT "))
    assert out["digest"] == keyed_digest(ID_18, PseudonymKey("k7", SECRET_2))
    assert out["repr"] == "PseudonymKey(key_id='k7', secret=<hidden>)"
    assert "'popdata_hmac_missing' could not be read" in out["missing"]
    assert "key_id" in out["no_id"]
    assert _b64(SECRET_2) not in done.stdout + done.stderr


# --- CLI ------------------------------------------------------------------------------------------------


def _write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> None:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_cli_pseudonymise_round_trip(tmp_path: Path, encoding: str) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    rows = [
        ["姓名", "身份证号", "备注"],
        ["张三", ID_15, "旧证"],
        ["张三", ID_18.lower(), "新证"],
        ["李四", OTHER_ID, ""],
        ["王五", "不详", "无证"],
        ["赵六", "", ""],
    ]
    _write_csv(source, rows, encoding)
    key = PseudonymKey("k1", SECRET)
    result = CliRunner().invoke(
        main,
        ["pseudonymise", "--column", "身份证号", str(source), str(target)],
        env={ENV_KEY: format_env_key(key), ENV_CONN_ID: ""},
    )
    assert result.exit_code == 0, result.output
    assert "5 rows" in result.output and "3 identifiers" in result.output and "2 blank" in result.output
    text = target.read_text(encoding="utf-8")
    for original in (ID_15, ID_18, ID_18.lower(), OTHER_ID, ID_18[:14], "不详"):
        assert original not in text
    out = list(csv.reader(text.splitlines()))
    assert out[0] == rows[0]
    assert [row[0] for row in out[1:]] == [row[0] for row in rows[1:]]  # other columns untouched
    assert [row[2] for row in out[1:]] == [row[2] for row in rows[1:]]
    ids = [row[1] for row in out[1:]]
    assert ids[0] == ids[1] == keyed_digest(ID_18, key)
    assert ids[2] == keyed_digest(OTHER_ID, key) != ids[0]
    assert ids[3] == ids[4] == ""
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_cli_pseudonymise_refuses_without_key_or_column(tmp_path: Path) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    _write_csv(source, [["id"], [ID_18]])
    runner = CliRunner()
    no_key = runner.invoke(
        main, ["pseudonymise", "--column", "id", str(source), str(target)], env={ENV_KEY: "", ENV_CONN_ID: ""}
    )
    assert no_key.exit_code != 0 and "no pseudonymisation key is configured" in no_key.output
    env = {ENV_KEY: format_env_key(PseudonymKey("k1", SECRET)), ENV_CONN_ID: ""}
    no_column = runner.invoke(main, ["pseudonymise", "--column", "sfzh", str(source), str(target)], env=env)
    assert no_column.exit_code != 0 and "sfzh" in no_column.output
    assert not target.exists()
    assert list(tmp_path.iterdir()) == [source]


def test_cli_new_hmac_key() -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["secrets", "new-hmac-key"])
    second = runner.invoke(main, ["secrets", "new-hmac-key", "--key-id", "k2"])
    assert first.exit_code == 0 and second.exit_code == 0
    (key1,) = parse_env_keys(first.output.strip())
    (key2,) = parse_env_keys(second.output.strip())
    assert key1.key_id == "k1" and key2.key_id == "k2"
    assert len(key1.secret) == 32 and key1.secret != key2.secret
    bad = runner.invoke(main, ["secrets", "new-hmac-key", "--key-id", "has space"])
    assert bad.exit_code != 0
