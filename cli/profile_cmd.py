"""``datayard profile``: storage profiles, with secrets kept in the keyring."""

from __future__ import annotations

import sys
from dataclasses import replace

import click
from rich.table import Table
from rich.text import Text

from datayard.core.errors import BucketMissingError, DatayardError, UsageError
from datayard.core.settings import Profile
from datayard.core.store import s3
from datayard.core.store.workspace import Workspace

from .render import console, out


@click.group(name="profile")
def command() -> None:
    """Add, list, remove and test storage profiles (S3 / MinIO endpoints)."""


def _read_secret(from_stdin: bool) -> str:
    if from_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        secret = click.prompt("Secret key", hide_input=True, err=True)
    else:
        raise UsageError(
            "no terminal to ask for the secret key: pass it on stdin with --secret-stdin"
        )
    if not secret:
        raise UsageError("the secret key is empty")
    return secret


@command.command()
@click.argument("name")
@click.option("--endpoint", required=True, help="URL of the S3 API, e.g. https://minio.lab:9000")
@click.option("--bucket", required=True, help="Bucket that holds Datayard's data.")
@click.option("--access-key", required=True, help="Access key (user name) of the store.")
@click.option("--region", default="", help="Region, if the store needs one.")
@click.option("--no-verify-tls", is_flag=True, help="Accept any TLS certificate (unsafe).")
@click.option("--ca-bundle", default="", help="PEM file of a private certificate authority.")
@click.option("--secret-stdin", is_flag=True, help="Read the secret key from stdin (scripts).")
@click.option("--default", "make_default", is_flag=True, help="Use this profile by default.")
def add(
    name: str,
    endpoint: str,
    bucket: str,
    access_key: str,
    region: str,
    no_verify_tls: bool,
    ca_bundle: str,
    secret_stdin: bool,
    make_default: bool,
) -> None:
    """Add or replace profile NAME; the secret key goes to the OS keyring only."""
    workspace = Workspace.default()
    profile = Profile(
        name=name,
        endpoint=endpoint,
        bucket=bucket,
        access_key=access_key,
        region=region,
        verify_tls=not no_verify_tls,
        ca_bundle=ca_bundle,
    ).validated()
    updated = workspace.settings().with_profile(profile)
    if make_default:
        updated = replace(updated, default_profile=name)
    secret = _read_secret(secret_stdin)
    workspace.secrets.set(name, secret)
    workspace.save(updated)
    console.print(
        Text.assemble("Saved profile ", (name, "bold"), "; its secret key is in the keyring.")
    )


@command.command(name="list")
def list_() -> None:
    """List the profiles."""
    workspace = Workspace.default()
    current = workspace.settings()
    table = Table("profile", "endpoint", "bucket", "access key", "TLS", "secret", "default")
    for profile in current.profiles:
        try:
            workspace.secrets.get(profile.name)
            secret = Text("in keyring")
        except DatayardError:
            secret = Text("missing", style="red")
        tls = Text("on") if profile.verify_tls else Text("off", style="yellow")
        if profile.ca_bundle:
            tls.append(f" (CA {profile.ca_bundle})")
        default = "*" if profile.name == current.default_profile else ""
        table.add_row(
            profile.name, profile.endpoint, profile.bucket, profile.access_key, tls, secret, default
        )
    if not current.profiles:
        console.print("No profiles yet: the embedded 'local' store is created on first use.")
        return
    out.print(table)


@command.command()
@click.argument("name")
def remove(name: str) -> None:
    """Remove profile NAME and its secret key."""
    workspace = Workspace.default()
    workspace.save(workspace.settings().without_profile(name))
    workspace.secrets.delete(name)
    console.print(Text.assemble("Removed profile ", (name, "bold"), "."))


@command.command()
@click.argument("name", required=False)
@click.option("--create-bucket", is_flag=True, help="Create the bucket if it does not exist.")
def test(name: str | None, create_bucket: bool) -> None:
    """Check that profile NAME (default: the default profile) can read and write its bucket."""
    workspace = Workspace.default()
    connection = workspace.connect(name)
    profile, secret = connection.profile, connection.secret
    try:
        s3.check_profile(profile, secret)
    except BucketMissingError:
        ask = sys.stdin.isatty() and click.confirm(
            f"The bucket {profile.bucket!r} does not exist. Create it?", err=True
        )
        if not (create_bucket or ask):
            raise
        s3.create_bucket(profile, secret)
        s3.check_profile(profile, secret)
        console.print(Text.assemble("Created bucket ", (profile.bucket, "bold"), "."))
    console.print(
        Text.assemble(
            ("OK", "green"),
            ": profile ",
            (profile.name, "bold"),
            f" reaches {profile.endpoint} and can read and write bucket ",
            (profile.bucket, "bold"),
            ".",
        )
    )
