"""The worker image's promises, read from its Dockerfile (no container runtime here)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from datayard.core.clusters.manifests import WORKER_HOME, WORKER_UID

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "packaging" / "worker" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments left out."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    found = []
    for line in lines:
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_the_base_is_pinned_to_the_torch_of_the_train_extra() -> None:
    steps = instructions()
    args = dict(a.split("=", 1) for word, a in steps if word == "ARG" and "=" in a)
    bases = [
        re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], a.split()[0])
        for w, a in steps
        if w == "FROM"
    ]
    torch = next(
        d.split("==")[1]
        for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
            "optional-dependencies"
        ]["train"]
        if d.startswith("torch==")
    )
    for base in bases:
        name, _, tag = base.partition(":")
        assert "@sha256:" in base or (tag and tag != "latest"), base
        assert name == "pytorch/pytorch" and tag.startswith(f"{torch}-"), base


def test_it_runs_as_the_non_root_user_the_job_names_and_holds_no_secret() -> None:
    steps = instructions()
    users = [a for w, a in steps if w == "USER"]
    assert users and users[-1] == f"{WORKER_UID}:{WORKER_UID}"
    environment = " ".join(a for w, a in steps if w in ("ENV", "ARG"))
    assert f"HOME={WORKER_HOME}" in environment
    assert not re.search(r"SECRET|KEY|PASSWORD|TOKEN|CREDENTIAL", environment, re.IGNORECASE)
    assert any(w == "RUN" and f"--uid {WORKER_UID}" in a for w, a in steps)
    assert ("ENTRYPOINT", '["datayard"]') in steps
    assert any(w == "RUN" and "[train]" in a for w, a in steps)
