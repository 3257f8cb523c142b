"""Store credentials handed to a worker that has no profile of its own.

A training host reached over SSH has no keyring to ask and no settings to
read, and whatever lands in its files, process arguments or environment may
be read by its other users or its logs. So whoever starts the worker there
writes one JSON document to its stdin, ``{"profile": {<Profile fields>},
"secret": "..."}``, and closes it; the worker keeps the secret in memory only.

A pod gets the same document from a Kubernetes Secret, in the environment
variable :data:`ENVIRONMENT_VARIABLE`: the worker takes it out of its
environment before anything else, so that no process it starts inherits it.

The document is checked like every JSON from elsewhere, and no message about
it quotes the secret, whatever was sent in its place.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from datayard.core import schema
from datayard.core.errors import ProfileFieldError, UsageError
from datayard.core.settings import Profile
from datayard.core.store.workspace import Connection

ENVIRONMENT_VARIABLE = "DATAYARD_CREDENTIALS"


def members(connection: Connection) -> dict[str, Any]:
    """The document's members, which a larger request may carry beside its own."""
    return {"profile": dataclasses.asdict(connection.profile), "secret": connection.secret}


def encode(connection: Connection) -> bytes:
    return json.dumps(members(connection)).encode()


def decode(raw: bytes, where: str = "the credentials on stdin") -> Connection:
    """The connection a worker was handed; :class:`UsageError` in one line about ``where``
    when the document is not one."""
    try:
        return connection_in(document(raw))
    except schema.SchemaError as problem:
        raise UsageError(problem.about(where)) from None


def from_environment() -> Connection:
    """The connection in :data:`ENVIRONMENT_VARIABLE`, which leaves this process's
    environment here, read or not; :class:`UsageError` in one line when it is missing or
    is not the document."""
    raw = os.environ.pop(ENVIRONMENT_VARIABLE, None)
    if not raw:
        raise UsageError(
            f"{ENVIRONMENT_VARIABLE} is not set: a worker started with --from-store reads "
            "the store's profile and secret from it (the document of a Secret "
            "'datayard-store-<profile>' on a cluster)"
        )
    return decode(raw.encode(), f"the credentials in {ENVIRONMENT_VARIABLE}")


def document(raw: bytes) -> dict[str, Any]:
    """The JSON object in ``raw``, or :class:`schema.SchemaError` that does not quote it."""
    body = schema.load_json(raw)
    if not isinstance(body, dict):
        raise schema.SchemaError("", "is not a JSON object")
    return body


def connection_in(body: dict[str, Any]) -> Connection:
    """The connection in the ``profile`` and ``secret`` members of ``body``, checked;
    else :class:`schema.SchemaError` naming the member."""
    secret = body.get("secret")
    if not isinstance(secret, str) or not secret:
        raise schema.SchemaError("secret", "is missing or not a non-empty string")
    return Connection(
        _profile(schema.json_object(schema.member(body, "profile"), "profile")), secret
    )


def _profile(data: dict[str, Any]) -> Profile:
    """Fields this version does not know (a newer app's) are left out, as in run records."""
    try:
        values = schema.checked_fields(Profile, data)
    except schema.SchemaError as problem:
        raise problem.within("profile") from None
    for field in dataclasses.fields(Profile):
        if field.default is dataclasses.MISSING and field.name not in values:
            raise schema.SchemaError(f"profile.{field.name}", "is missing")
    try:
        return Profile(**values).validated()
    except ProfileFieldError as error:
        raise schema.SchemaError(f"profile.{error.field}", f"is not usable: {error}") from None
