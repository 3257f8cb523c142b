"""An archive rule's CronJob: accepted by every Kubernetes version the training Jobs are
checked against, free of secrets, and its pod's command, run here with the environment
the CronJob gives it, archives the share into the real store."""

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
from datayard.core.store.workspace import Connection, Workspace
from tests.core.test_cluster_manifests import BASE, SECRET, valid
from tests.e2e.test_archive import write_set
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
    out = tmp_path / "cronjob.yaml"
    written = run_cli(
        "archive", "install", "drive", "--kubernetes", "gpu", "--nfs", "nas:/cv", "--out", str(out)
    )
    assert written.returncode == 0, written.stderr
    assert f"kubectl apply -f {out}" in written.stderr
    assert yaml.safe_load(out.read_text())["spec"]["concurrencyPolicy"] == "Forbid"

    for args, words in (
        (("drive", "--kubernetes", "gpu", "--print"), "--nfs SERVER:/PATH or --pvc CLAIM"),
        (("drive", "--kubernetes", "gpu", "--nfs", "nas", "--print"), "write it as SERVER:/PATH"),
        (("drive", "--kubernetes", "gpu", "--pvc", "x"), "give --print or --out FILE"),
        (("drive", "--pvc", "x"), "go with --kubernetes CLUSTER"),
        (("drive", "--kubernetes", "cpu", "--pvc", "x", "--print"), "no cluster 'cpu'"),
        (("near", "--kubernetes", "gpu", "--pvc", "x", "--print"), "loopback, which no pod"),
    ):
        refused = run_cli("archive", "install", *args)
        assert refused.returncode == 2 and words in refused.stderr, refused.stderr
        assert refused.stderr.strip().count("\n") == 0
