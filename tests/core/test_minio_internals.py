"""The private minio methods that the store adapter calls still take what it passes.

minio-py has no public API for resuming a multipart upload or for conditional
requests, so ``core/store/bucket.py`` calls private methods of ``Minio``, and
only there. These tests read those calls from the module's source and check
each against the installed minio, so that an upgrade that renames, reorders
or adds a required parameter fails here, naming the method and what changed,
instead of in a user's push.
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

import minio
from minio import Minio

from datayard.core.store import bucket

CORE = Path(bucket.__file__).parents[1]
ADAPTER = Path(bucket.__file__)
PRIVATE = frozenset(name for name in dir(Minio) if re.fullmatch(r"_[a-z]\w*", name))
"""Every private method of the installed ``Minio``."""


@dataclass(frozen=True)
class PrivateCall:
    method: str
    keywords: tuple[str, ...]
    positional: int
    line: int

    def __str__(self) -> str:
        return f"{self.method}({', '.join(self.keywords)}) at {ADAPTER.name}:{self.line}"


def private_calls(source: Path) -> list[PrivateCall]:
    """Calls of ``<something>.client._method(...)``: the adapter's client is a ``Minio``."""
    calls = []
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        on_client = isinstance(owner, ast.Attribute) and owner.attr == "client"
        if on_client and node.func.attr in PRIVATE:
            keywords = tuple(k.arg or "**" for k in node.keywords)
            calls.append(PrivateCall(node.func.attr, keywords, len(node.args), node.lineno))
    return calls


def problems(call: PrivateCall, signature: inspect.Signature) -> list[str]:
    """What ``call`` passes that ``signature`` no longer takes, and what it lacks."""
    parameters = [p for name, p in signature.parameters.items() if name != "self"]
    where = (
        f"minio {minio.__version__}: Minio.{call.method}() "
        f"(it takes {', '.join(p.name for p in parameters)})"
    )
    named = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    required = [
        p.name
        for p in parameters
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    return [
        f"{where} has no parameter {keyword!r}, which {call} passes"
        for keyword in call.keywords
        if keyword not in named
    ] + [
        f"{where} requires {name!r}, which {call} does not pass"
        for name in required
        if name not in call.keywords
    ]


def test_the_adapter_calls_private_methods_with_keywords_only() -> None:
    calls = private_calls(ADAPTER)
    assert calls, "no private minio call found: update this test and the adapter's docstring"
    positional = [str(call) for call in calls if call.positional]
    assert not positional, f"private minio methods called with positional arguments: {positional}"


def test_the_installed_minio_takes_every_private_call_as_the_adapter_makes_it() -> None:
    found = [
        problem
        for call in private_calls(ADAPTER)
        for problem in problems(call, inspect.signature(getattr(Minio, call.method)))
    ]
    assert not found, (
        "\n".join(found) + "\nadapt core/store/bucket.py to this minio, or pin the last minio "
        "that works in pyproject.toml"
    )


def test_the_adapter_docstring_names_exactly_the_private_methods_it_calls() -> None:
    named = set(re.findall(r"``(_[a-z]\w*)``", bucket.__doc__ or ""))
    assert named == {call.method for call in private_calls(ADAPTER)}


def test_no_other_module_of_the_core_uses_minio_internals() -> None:
    elsewhere = [
        f"{path.relative_to(CORE)}:{node.lineno} {node.attr}"
        for path in sorted(CORE.rglob("*.py"))
        if path != ADAPTER
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr in PRIVATE
    ]
    assert not elsewhere


def test_a_changed_signature_is_named_with_what_changed() -> None:
    def renamed(self: object, bucket_name: str, object_name: str, multipart_id: str) -> None: ...

    call = PrivateCall("_list_parts", ("bucket_name", "object_name", "upload_id"), 0, 7)
    where = (
        f"minio {minio.__version__}: Minio._list_parts() "
        "(it takes bucket_name, object_name, multipart_id)"
    )
    made = "_list_parts(bucket_name, object_name, upload_id) at bucket.py:7"
    assert problems(call, inspect.signature(renamed)) == [
        f"{where} has no parameter 'upload_id', which {made} passes",
        f"{where} requires 'multipart_id', which {made} does not pass",
    ]
