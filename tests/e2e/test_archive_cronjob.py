"""An archive rule's CronJob: accepted by every Kubernetes version the training Jobs are
checked against, free of secrets, and its pod's command, run here with the environment
the CronJob gives it, archives the share into the real store. ``--apply`` sends it with
the profile's Secret to the API server of tests/fixtures/cluster_api.py."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from datayard.core.archive.cronjob import cronjob_manifest, drive_volume
from datayard.core.archive.report import last_report
from datayard.core.archive.rules import Per, Rule, RuleBook
from datayard.core.clusters.manifests import CREDENTIALS_VARIABLE
from datayard.core.clusters.registry import Cluster, ClusterRegistry
from datayard.core.settings import Profile
from datayard.core.store.workspace import Connection, Workspace
from datayard.core.training import credentials
from tests.core.test_cluster_api import ApiServer, closed_port, kubeconfig, status
from tests.core.test_cluster_manifests import BASE, SECRET, valid
from tests.e2e.test_archive import write_set
from tests.fixtures.cluster_api import SECRETS
from tests.fixtures.datasets import fresh_bucket, run_cli
from tests.fixtures.pods import pod_basics
from tests.fixtures.services import S3Server
from tests.fixtures.waits import LONG_S

RULE = Rule(name="Team_Drive", root="/mnt/share/cv", per=Per.SET, schedule="*/30 1-3 * * sun")
CLUSTERS = (
    BASE,
    replace(
        BASE,
        cache_pvc="datayard-cache",
        service_account="archiver",
        image_pull_secret="regcred",
        node_selector=("pool=cpu",),
        tolerations=("dedicated=ml:NoExecute",),
    ),
)


def pod_of(cronjob: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return pod


@pytest.mark.parametrize("cluster", CLUSTERS)
@pytest.mark.parametrize(
    "drive", [drive_volume("nas.lab:/export/cv", None), drive_volume(None, "cv-share-smb")]
)
def test_the_cronjob_is_valid_forbids_overlap_and_names_only_the_secret(
    cluster: Cluster, drive: dict[str, Any]
) -> None:
    cronjob = cronjob_manifest(cluster.validated(), RULE, "Lab_EU.2", drive)
    valid(cronjob)
    for shown in yaml.safe_load_all(yaml.safe_dump_all([cronjob])):
        valid(shown)
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["schedule"] == "0,30 1,2,3 * * 0"
    assert spec["startingDeadlineSeconds"] > 0
    assert spec["jobTemplate"]["spec"]["backoffLimit"] <= 2
    assert cronjob["metadata"]["name"].startswith("datayard-archive-team-drive-")
    assert len(cronjob["metadata"]["name"]) <= 52
    assert SECRET not in json.dumps(cronjob)
    pod = pod_of(cronjob)
    (container,) = pod["containers"]
    assert container["command"] == ["datayard", "archive", "run", "--from-environment"]
    env = {e["name"]: e for e in container["env"]}
    assert env[CREDENTIALS_VARIABLE] == {
        "name": CREDENTIALS_VARIABLE,
        "valueFrom": {"secretKeyRef": {"name": pod_secret(cronjob), "key": "credentials.json"}},
    }
    assert pod_secret(cronjob).startswith("datayard-store-lab-eu-2-")
    share = next(m for m in container["volumeMounts"] if m["mountPath"] == RULE.root)
    assert share["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == share["name"])
    (source,) = [value for key, value in volume.items() if key != "name"]
    assert source["readOnly"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True


def pod_secret(cronjob: dict[str, Any]) -> str:
    (container,) = pod_of(cronjob)["containers"]
    (found,) = [e for e in container["env"] if e["name"] == CREDENTIALS_VARIABLE]
    name: str = found["valueFrom"]["secretKeyRef"]["name"]
    return name


def test_the_pods_command_with_the_pods_environment_archives_the_share(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = fresh_bucket(s3_server)
    share = tmp_path / "share"
    write_set(share / "ada" / "cats", 200)
    rule = Rule(name="drive", root=str(share))
    (container,) = pod_of(
        cronjob_manifest(BASE, rule, "lab", drive_volume("nas.lab:/export", None))
    )["containers"]

    # The Secret's document where the pod's environment takes it from the Secret.
    environment = pod_basics(Connection(bucket.profile, s3_server.secret), tmp_path / "pod")
    given = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    given.pop("HOME")  # the image's; here, the fresh one of pod_basics
    done = subprocess.run(
        container["command"],
        env={**given, **environment},
        capture_output=True,
        text=True,
        timeout=4 * LONG_S,
    )

    assert done.returncode == 0, done.stderr
    assert "pushed ada/drive" in done.stderr
    report = last_report(bucket, "drive")
    assert report is not None and report.summary()["pushed"] == 1
    assert s3_server.secret not in done.stdout + done.stderr

    ruleless = subprocess.run(
        container["command"], env=environment, capture_output=True, text=True, timeout=LONG_S
    )
    assert ruleless.returncode == 2 and ruleless.stderr.count("\n") == 1, ruleless.stderr
    assert "DATAYARD_ARCHIVE_RULE is not set" in ruleless.stderr
    assert s3_server.secret not in ruleless.stderr


def test_install_prints_or_writes_the_cronjob_and_refuses_what_cannot_work(
    s3_server: S3Server, tmp_path: Path
) -> None:
    workspace = Workspace.default()
    remote = replace(s3_server.profile(name="lab"), endpoint="https://minio.lab:9000")
    settings = workspace.settings().with_profile(remote).with_profile(s3_server.profile("near"))
    workspace.save(replace(settings, default_profile="lab"))
    (tmp_path / "share").mkdir()
    book = RuleBook(workspace.dirs.config)
    book.add(Rule(name="drive", root=str(tmp_path / "share")))
    book.add(Rule(name="near", root=str(tmp_path / "share"), profile="near"))
    ClusterRegistry(workspace.dirs.config).add(BASE)

    printed = run_cli(
        "archive", "install", "drive", "--kubernetes", "gpu", "--pvc", "cv-smb", "--print"
    )
    assert printed.returncode == 0, printed.stderr
    (cronjob,) = yaml.safe_load_all(printed.stdout)
    valid(cronjob)
    assert pod_secret(cronjob) == "datayard-store-lab"
    (said,) = printed.stderr.strip().splitlines()
    assert "datayard-store-lab" in said and "--apply creates" in said
    out = tmp_path / "cronjob.yaml"
    written = run_cli(
        "archive", "install", "drive", "--kubernetes", "gpu", "--nfs", "nas:/cv", "--out", str(out)
    )
    assert written.returncode == 0, written.stderr
    assert f"kubectl apply -f {out}" in written.stderr and "--apply" in written.stderr
    assert yaml.safe_load(out.read_text())["spec"]["concurrencyPolicy"] == "Forbid"

    for args, words in (
        (("drive", "--kubernetes", "gpu", "--print"), "--nfs SERVER:/PATH or --pvc CLAIM"),
        (("drive", "--kubernetes", "gpu", "--nfs", "nas", "--print"), "write it as SERVER:/PATH"),
        (("drive", "--kubernetes", "gpu", "--pvc", "x"), "give --apply, or --print or --out"),
        (("drive", "--pvc", "x"), "go with --kubernetes CLUSTER"),
        (("drive", "--kubernetes", "cpu", "--pvc", "x", "--print"), "no cluster 'cpu'"),
        (("near", "--kubernetes", "gpu", "--pvc", "x", "--print"), "loopback, which no pod"),
    ):
        refused = run_cli("archive", "install", *args)
        assert refused.returncode == 2 and words in refused.stderr, refused.stderr
        assert refused.stderr.strip().count("\n") == 0


CRONJOBS = "/apis/batch/v1/namespaces/ml/cronjobs"
KEY = "archive-Only-In-The-Keyring-7f3a"


@pytest.fixture
def applying(api: ApiServer, tmp_path: Path, secret_service: object) -> ApiServer:
    """Profile ``lab`` (its store where a cluster's pods could reach it, its secret key in
    the keyring), a rule ``drive`` of it, and cluster ``gpu``, whose API server is ``api``
    (namespace ``ml``), as ``cluster add`` keeps them; and cluster ``down``, where nothing
    answers."""
    workspace = Workspace.default()
    lab = Profile(name="lab", endpoint="https://minio.lab:9000", bucket="cv-share", access_key="AK")
    workspace.save(replace(workspace.settings().with_profile(lab), default_profile="lab"))
    workspace.secrets.set("lab", KEY)
    (tmp_path / "share").mkdir()
    RuleBook(workspace.dirs.config).add(Rule(name="drive", root=str(tmp_path / "share")))
    clusters = ClusterRegistry(workspace.dirs.config)
    config = kubeconfig(tmp_path / "config", api.url)
    clusters.add(replace(BASE, namespace="ml", kubeconfig=str(config)))
    down = kubeconfig(tmp_path / "down", f"http://127.0.0.1:{closed_port()}")
    clusters.add(replace(BASE, name="down", namespace="ml", kubeconfig=str(down)))
    api.routes[("POST", CRONJOBS)] = (201, {})
    return api


def sent(api: ApiServer) -> list[tuple[str, str]]:
    return [(method, path.split("?")[0]) for method, path, _ in api.received]


def test_apply_creates_the_secret_and_the_cronjob_then_replaces_them(
    applying: ApiServer,
) -> None:
    api = applying
    install = ("archive", "install", "drive", "--kubernetes", "gpu", "--pvc", "cv-smb")

    created = run_cli(*install, "--apply")

    assert created.returncode == 0, created.stderr
    assert sent(api) == [("POST", SECRETS), ("POST", CRONJOBS)]
    secret, cronjob = (body for _, _, body in api.received)
    valid(cronjob)
    assert cronjob["kind"] == "CronJob" and cronjob["metadata"]["namespace"] == "ml"
    assert pod_secret(cronjob) == secret["metadata"]["name"] == "datayard-store-lab"
    given = credentials.decode(secret["stringData"]["credentials.json"].encode())
    assert (given.profile.name, given.profile.endpoint, given.secret) == (
        "lab",
        "https://minio.lab:9000",
        KEY,
    )
    assert KEY not in json.dumps(cronjob)
    assert KEY not in created.stdout + created.stderr
    assert created.stdout == ""
    assert created.stderr.startswith(f"Created CronJob {cronjob['metadata']['name']} ")
    assert "datayard-store-lab" in created.stderr
    assert created.stderr.strip().count("\n") == 0, created.stderr

    # Both exist now: the second apply replaces them, and may print what it sends.
    api.routes[("POST", SECRETS)] = status(409, 'secrets "datayard-store-lab" already exists')
    api.routes[("POST", CRONJOBS)] = status(409, "cronjobs.batch already exists")
    name = cronjob["metadata"]["name"]
    api.routes[("PUT", f"{SECRETS}/datayard-store-lab")] = (200, {})
    api.routes[("PUT", f"{CRONJOBS}/{name}")] = (200, {})
    api.received.clear()

    replaced = run_cli(*install, "--apply", "--print")

    assert replaced.returncode == 0, replaced.stderr
    assert sent(api) == [
        ("POST", SECRETS),
        ("PUT", f"{SECRETS}/datayard-store-lab"),
        ("POST", CRONJOBS),
        ("PUT", f"{CRONJOBS}/{name}"),
    ]
    assert api.received[-1][2] == cronjob == yaml.safe_load(replaced.stdout)
    assert api.received[1][2] == secret
    assert KEY not in replaced.stdout + replaced.stderr
    assert replaced.stderr.startswith(f"Replaced CronJob {name} ")

    api.routes[("DELETE", f"{CRONJOBS}/{name}")] = (200, {"status": "Success"})
    api.received.clear()
    removed = run_cli("archive", "uninstall", "drive", "--kubernetes", "gpu")
    assert removed.returncode == 0, removed.stderr
    assert sent(api) == [("DELETE", f"{CRONJOBS}/{name}")]
    assert f"Deleted CronJob {name}" in removed.stderr
    del api.routes[("DELETE", f"{CRONJOBS}/{name}")]
    again = run_cli("archive", "uninstall", "drive", "--kubernetes", "gpu")
    assert again.returncode == 0, again.stderr
    assert f"There is no CronJob {name}" in again.stderr


def test_apply_refusals_are_one_line_and_exit_2(applying: ApiServer) -> None:
    api = applying
    workspace = Workspace.default()
    keyless = Profile(name="keyless", endpoint="https://s3.lab", bucket="cv-share", access_key="AK")
    workspace.save(workspace.settings().with_profile(keyless))
    book = RuleBook(workspace.dirs.config)
    book.add(Rule(name="keyless", root=book.get("drive").root, profile="keyless"))

    def refused(words: str, *args: str) -> None:
        done = run_cli("archive", *args)
        assert done.returncode == 2, done.stderr
        assert words in done.stderr, done.stderr
        assert done.stderr.strip().count("\n") == 0, done.stderr
        assert "Traceback" not in done.stderr and KEY not in done.stdout + done.stderr

    install = ("install", "drive", "--kubernetes", "gpu", "--nfs", "nas:/cv", "--apply")
    unanswered = "does not answer (connection refused)"
    refused(unanswered, "install", "drive", "--kubernetes", "down", "--pvc", "x", "--apply")
    refused(unanswered, "uninstall", "drive", "--kubernetes", "down")
    refused("give --kubernetes CLUSTER", "uninstall", "drive")
    keyless_install = ("install", "keyless", "--kubernetes", "gpu", "--pvc", "x", "--apply")
    refused("profile 'keyless' has no secret key in the keyring", *keyless_install)
    assert api.received == []

    api.routes[("POST", CRONJOBS)] = status(403, 'cronjobs.batch is forbidden: User "ada"')
    refused("you may not create cronjobs in namespace 'ml'", *install)
    api.routes[("POST", SECRETS)] = status(404, 'namespaces "ml" not found')
    refused("the cluster has no namespace 'ml'", *install)
    assert sent(api) == [("POST", SECRETS), ("POST", CRONJOBS), ("POST", SECRETS)]
