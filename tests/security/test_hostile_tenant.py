"""Tenant A attacks the careless owner's algorithm through every input it controls; nothing of
the algorithm's code or the platform's data may arrive in anything A can read or download.

Keep this list open-ended: every new tenant input gets its attempt here.
"""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import sqlalchemy as sa

from forgeml.db.events import events
from forgeml.domain.jobs import is_terminal
from tests.integration.test_portal_pages import HTML, sign_in
from tests.security.conftest import (
    OWNER_SECRET,
    PLATFORM_FILE,
    PLATFORM_SECRET,
    PWNED,
    Stage,
)
from tests.support.jobs import JOBS, describe, logs_text, run_until, submit, upload_dataset
from tests.support.platform_jobs import artifact
from tests.support.world import World

# Whatever a payload does if it ever runs: the marker is assembled at run time, so the
# uploaded bytes themselves never contain it.
PAYLOAD = (
    "import os\n"
    "m = 'PWNED-' + 'BY-TENANT'\n"
    "print(m, flush=True)\n"
    "for d in ('/opt/ml/model', '/opt/ml/output/data', os.environ.get('SM_MODEL_DIR', '/tmp')):\n"
    "    try:\n"
    "        open(os.path.join(d, 'pwned.txt'), 'w').write(m + open('/opt/ml/code/train.py').read())\n"
    "    except OSError:\n"
    "        pass\n"
)
HOSTILE_FILES: dict[str, bytes] = {
    "data.csv": b"1,2\n3,4\n5,6\n",
    "sitecustomize.py": PAYLOAD.encode(),
    "usercustomize.py": PAYLOAD.encode(),
    "evil.pth": b"import os; exec(open('/opt/ml/input/data/train/sitecustomize.py').read())\n",
    "numpy.py": PAYLOAD.encode(),
    "ssl.py": PAYLOAD.encode(),
    "hashlib.py": PAYLOAD.encode(),
    "numpy/__init__.py": PAYLOAD.encode(),
    "train.py": PAYLOAD.encode(),
    "__main__.py": PAYLOAD.encode(),
    "libevil.so": b"\x7fELF\x02\x01\x01" + b"\0" * 57 + b"not really a library",
    "ld.so.preload": b"/opt/ml/input/data/train/libevil.so\n",
    "openssl.cnf": b"openssl_conf = evil\n[evil]\n.include /opt/ml/code/train.py\n",
    "gconv-modules": b"module EVIL// INTERNAL /opt/ml/input/data/train/libevil 1\n",
    "locale.alias": b"C.UTF-8 evil\n",
    "hosts": b"127.0.0.1 pypi.org files.pythonhosted.org\n",
    "pip.conf": b"[global]\nindex-url = http://127.0.0.1:1/simple\n",
    "config.json": b'{"__class__": "os.system", "args": ["id"]}',
    "model.json": b'{"rows": 999999}',
}
# Launcher, loader, interpreter, libc, TLS, resolver, pip and shell variables, and a few that
# are merely undeclared: every one must be refused by name at submit.
HOSTILE_ENV = dict.fromkeys(("LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "ld_preload", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONINSPECT", "PYTHONUSERBASE", "SSL_CERT_FILE", "SSL_CERT_DIR", "OPENSSL_CONF", "OPENSSL_MODULES", "LOCPATH", "GCONV_PATH", "HOSTALIASES", "RESOLV_HOST_CONF", "LOCALDOMAIN", "PIP_INDEX_URL", "PIP_CONFIG_FILE", "PIP_TARGET", "BASH_ENV", "ENV", "PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ", "SM_MODEL_DIR", "SM_CHANNEL_TRAIN", "SM_TRAINING_ENV", "SAGEMAKER_BASE_DIR", "TRAINING_JOB_NAME", "CUDA_VISIBLE_DEVICES", "MASTER_ADDR", "NODE_OPTIONS", "PERL5OPT", "MALLOC_CONF", "OMP_NUM_THREADS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NLSPATH", "GIT_SSH"), "/opt/ml/input/data/train/libevil.so")  # fmt: skip
SHELLISH = "$(cat /opt/ml/code/train.py) `id`; cat /opt/ml/input/data/reference/* | sh --help"


def _body(stage: Stage, ds: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "attack",
        "algorithm": stage.algorithm,
        "input_data": {
            "train": {"dataset_id": ds},
            "reference": {"dataset_id": stage.platform_dataset},
        },
    }
    return body | extra


def _refused(world: World, body: dict[str, Any]) -> dict[str, str]:
    resp = world.client.post(JOBS, json=body, headers=world.a.h())
    assert resp.status_code == 422, resp.text
    assert OWNER_SECRET not in resp.text and PLATFORM_FILE not in resp.text
    assert world.client.get(JOBS, headers=world.a.h()).json()["items"] == []
    return {e["loc"]: e["msg"] for e in resp.json()["error"]["details"]["errors"]}


def test_environment_outside_the_allowlist_is_refused_by_name(world: World, stage: Stage) -> None:
    ds = upload_dataset(world, world.a.h(), "rows", {"data.csv": b"1,2\n"})
    errors = _refused(world, _body(stage, ds, environment=HOSTILE_ENV))
    assert set(errors) == {f"environment.{n}" for n in HOSTILE_ENV}
    for name in HOSTILE_ENV:
        assert name in errors[f"environment.{name}"]  # the message names the variable too
    bad_values = {"DATA_FORMAT": "csv;id", "RUN_LABEL": "a\nLD_PRELOAD=/x.so"}
    errors = _refused(world, _body(stage, ds, environment=bad_values))
    assert set(errors) == {"environment.DATA_FORMAT", "environment.RUN_LABEL"}


def test_toolkit_and_undeclared_hyperparameters_are_refused(world: World, stage: Stage) -> None:
    ds = upload_dataset(world, world.a.h(), "rows", {"data.csv": b"1,2\n"})
    hps = {
        "sagemaker_program": "/opt/ml/input/data/train/train.py",
        "sagemaker_submit_directory": "file:///opt/ml/input/data/train",
        "sagemaker_container_log_level": "not-a-number",
        "sagemaker_job_name": "x",
        "_tuning_objective_metric": "loss",
        "--note": "x",
        "epochs": "1; id",
        "note": "nul\u0000inside",
    }
    errors = _refused(world, _body(stage, ds, hyperparameters=hps))
    assert set(errors) == {f"hyperparameters.{k}" for k in hps}


def test_traversal_channel_names_are_refused_at_submit(world: World, stage: Stage) -> None:
    ds = upload_dataset(world, world.a.h(), "rows", {"data.csv": b"1,2\n"})
    names = ["..", ".", "../model", "../../code", "a/b", "/etc", "a.b", "x" * 65, "-x", "tr ain"]
    body = _body(stage, ds)
    body["input_data"] |= {n: {"dataset_id": ds} for n in names}
    errors = _refused(world, body)
    for name in names:
        assert "channel names must match" in errors[f"input_data.{name[:64]}"], name


def test_resource_requests_are_validated(world: World, stage: Stage) -> None:
    ds = upload_dataset(world, world.a.h(), "rows", {"data.csv": b"1,2\n"})
    resources = {"resource_class": "../cpu.small", "instance_count": 2, "volume_gb": 16384}
    errors = _refused(world, _body(stage, ds, resources=resources))
    assert "resources.resource_class" in errors
    errors = _refused(world, _body(stage, ds, stopping_condition={"max_runtime_s": 10**9}))
    assert "stopping_condition.max_runtime_s" in errors


def _tenant_reads(world: World, job_id: str) -> dict[str, str]:
    """Everything tenant A can read about a job, as text."""
    h = world.a.h()
    out = {
        "describe": json.dumps(describe(world, h, job_id)),
        "list": world.client.get(JOBS, headers=h).text,
        "events": world.client.get(f"{JOBS}/{job_id}/events", headers=h).text,
        "logs": logs_text(world, h, job_id),
    }
    with world.services.db.read() as conn:  # what webhooks and e-mails are made from
        rows = conn.execute(sa.select(events.c.data).where(events.c.tenant_id == world.a.id))
        out["outbox"] = json.dumps([r[0] for r in rows], default=str)
    for name in ("model.tar.gz", "output.tar.gz"):
        files = artifact(world, h, job_id, name)
        out[name] = json.dumps({k: v.decode("utf-8", "replace") for k, v in files.items()})
    return out


def test_hostile_dataset_and_values_get_nothing_out(world: World, stage: Stage) -> None:
    ds = upload_dataset(world, world.a.h(), "hostile", HOSTILE_FILES)
    label = "/opt/ml/input/data/train/sitecustomize.py"
    body = _body(stage, ds, hyperparameters={"note": SHELLISH}, environment={"RUN_LABEL": label})
    job = submit(world, world.a.h(), body)["id"]
    done = run_until(world, job, lambda j: is_terminal(j["secondary_status"]), 600)
    reads = _tenant_reads(world, job)
    assert done["status"] == "Completed", (done["failure_reason"], reads["logs"])
    model = json.loads(json.loads(reads["model.tar.gz"])["model.json"])
    assert model["note"] == SHELLISH and model["label"] == label  # values stay values
    assert model["rows"] == 5  # three tenant rows and the platform's two numeric ones
    assert "pwned.txt" not in reads["model.tar.gz"] + reads["output.tar.gz"]
    for what, text in reads.items():
        for secret in (OWNER_SECRET, PLATFORM_SECRET, PLATFORM_FILE, PWNED):
            assert secret not in text, (secret, what)
    platform_input = json.loads(reads["describe"])["inputs"]["reference"]
    assert set(platform_input) == {"dataset_id", "kind", "version", "size_bytes"}


def test_redacted_failure_shows_no_owner_source(world: World, stage: Stage) -> None:
    ds = upload_dataset(world, world.a.h(), "rows", {"data.csv": b"1,2\n"})
    body = _body(stage, ds, algorithm=stage.redacted_algorithm, hyperparameters={"epochs": 3})
    job = submit(world, world.a.h(), body)["id"]
    done = run_until(world, job, lambda j: is_terminal(j["secondary_status"]), 600)
    assert done["status"] == "Failed"
    reads = _tenant_reads(world, job)
    home = str(world.services.settings.home)
    for what in ("describe", "logs", "events", "outbox"):
        text = reads[what]
        assert 'File \\"<algorithm>\\", line' in text or 'File "<algorithm>", line' in text, what
        assert "ValueError: unsupported number of epochs" in text, what
        for secret in ("raise ValueError", "if SAUCE", "/opt/ml/code/train.py", OWNER_SECRET, home):
            assert secret not in text, (secret, what)


def test_portal_shows_the_declared_environment_and_no_platform_file(
    world: World, stage: Stage
) -> None:
    ds = upload_dataset(world, world.a.h(), "rows", {"data.csv": b"1,2\n"})
    job = submit(world, world.a.h(), _body(stage, ds))["id"]
    c = sign_in(world.client, "tenant-admin@a.example.com")
    catalog = c.get("/algorithms", headers=HTML)
    assert catalog.status_code == 200
    assert "DATA_FORMAT" in catalog.text and "how rows are separated" in catalog.text
    assert "RUN_LABEL" in catalog.text and "hide the algorithm" in catalog.text  # redacted one
    page = c.get(f"/jobs/{job}", headers=HTML)
    assert page.status_code == 200 and "platform dataset v1" in page.text
    for secret in (PLATFORM_FILE, OWNER_SECRET, "train.py"):
        assert secret not in page.text + catalog.text, secret


def _tar_with_links() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"1,2\n"
        info = tarfile.TarInfo("data.csv")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for name, kind, target in (
            ("code.py", tarfile.SYMTYPE, "/opt/ml/code/train.py"),
            ("ref.csv", tarfile.SYMTYPE, f"../reference/{PLATFORM_FILE}"),
            ("code", tarfile.SYMTYPE, "/opt/ml/code"),
            ("hard.csv", tarfile.LNKTYPE, "data.csv"),
        ):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = kind, target
            tar.addfile(link)
    return buf.getvalue()


def test_links_in_an_uploaded_archive_never_reach_a_channel(world: World, stage: Stage) -> None:
    c, h = world.client, world.a.h()
    ds = c.post("/api/v1/datasets", json={"name": "links"}, headers=h).json()["id"]
    up = c.post(f"/api/v1/datasets/{ds}/uploads", json={"files": []}, headers=h)
    assert up.status_code == 201, up.text
    base = f"/api/v1/datasets/{ds}/uploads/{up.json()['version']['id']}"
    resp = c.put(f"{base}/archive", content=_tar_with_links(), headers=h)
    assert resp.status_code == 422, resp.text
    assert "links/devices are refused" in resp.text
    assert c.get(base, headers=h).json()["files"] == []  # refused whole: nothing staged
