"""Settings: TOML round trip, validation with messages that name the problem."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from datayard.core import settings
from datayard.core.errors import ConfigError
from datayard.core.settings import Profile, Settings

LAB = Profile(
    name="lab",
    endpoint="https://minio.lab.example:9000",
    bucket="cv-datasets",
    access_key="scientist",
    region="eu-west-1",
    verify_tls=False,
)


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    loaded = settings.load(tmp_path / "settings.toml")
    assert loaded.profiles == ()
    assert loaded.owner  # the login name
    assert loaded.default_profile == "local"


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    original = Settings(owner="ada", roots=("/mnt/share/ada", "/mnt/share/common")).with_profile(
        LAB
    )
    settings.save(original, path)
    assert settings.load(path) == original
    text = path.read_text()
    assert "[profiles.lab]" in text
    assert "secret" not in text.lower()


def test_replacing_and_removing_profiles() -> None:
    current = Settings(owner="ada").with_profile(LAB)
    moved = Profile(name="lab", endpoint="http://10.0.0.5:9000", bucket="b12", access_key="x")
    current = current.with_profile(moved)
    assert current.profiles == (moved,)
    assert current.without_profile("lab").profiles == ()
    with pytest.raises(ConfigError, match="no profile 'nope'"):
        current.without_profile("nope")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"endpoint": "minio.lab:9000"}, "is not a URL"),
        ({"endpoint": "ftp://minio.lab"}, "is not a URL"),
        ({"endpoint": "http://[::1"}, "endpoint 'http://\\[::1' is not a URL"),
        ({"endpoint": "http://minio.lab:9000/bucket"}, "must not have a path"),
        ({"endpoint": "http://minio.lab:99999"}, "invalid port"),
        ({"bucket": "My_Bucket"}, "not a valid S3 bucket name"),
        ({"bucket": "ab"}, "not a valid S3 bucket name"),
        ({"access_key": " "}, "access key is empty"),
        ({"name": "has space"}, "profile name"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "CA bundle"),
    ],
)
def test_invalid_profiles_are_refused_with_the_reason(change: dict[str, str], message: str) -> None:
    fields = {**LAB.__dict__, **change}
    with pytest.raises(ConfigError, match=message):
        Profile(**fields).validated()


def test_broken_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('owner = "ada"\n[profiles.lab\n')
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        settings.load(path)
    assert str(path) in str(caught.value)


def test_unknown_profile_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        '[profiles.lab]\nendpoint = "http://a:1"\nbucket = "bkt"\naccess_key = "k"\n'
        'secret_key = "oops"\n'
    )
    with pytest.raises(ConfigError, match="unknown keys: secret_key"):
        settings.load(path)


def test_the_name_a_tunnel_checks_certificates_for_is_not_a_setting(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    tunnelled = replace(LAB, endpoint="https://127.0.0.1:40000", tls_hostname="minio.lab.example")

    settings.save(Settings(owner="ada").with_profile(tunnelled), path)

    assert "tls_hostname" not in path.read_text()
    path.write_text(path.read_text() + 'tls_hostname = "minio.lab.example"\n')
    with pytest.raises(ConfigError, match="unknown keys: tls_hostname"):
        settings.load(path)


def test_save_is_private_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "config" / "settings.toml"
    settings.save(Settings(owner="ada"), path)
    assert path.stat().st_mode & 0o077 == 0
    assert [p.name for p in path.parent.iterdir()] == ["settings.toml"]
