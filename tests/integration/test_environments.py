"""Per-digest algorithm virtualenvs: real uv builds (and the pip fallback), locking, failure,
caching."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeml.domain.errors import InvalidInput
from forgeml.training.environments import (
    EnvironmentBuildFailed,
    EnvironmentCache,
    EnvironmentInfo,
    EnvironmentStatus,
)

HEADER = "=== building environment"
WHEEL = "tinypkg-0.1.0-py3-none-any.whl"


def digest_of(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def write_wheel(path: Path) -> None:
    """A minimal pure-python wheel, so pip installs offline in well under a second."""
    files = {
        "tinypkg/__init__.py": b"VALUE = 42\n",
        "tinypkg-0.1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinypkg\n"
        b"Version: 0.1.0\n",
        "tinypkg-0.1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        sha = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={sha},{len(data)}")
    record.append("tinypkg-0.1.0.dist-info/RECORD,,")
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as whl:
        for name, data in files.items():
            whl.writestr(name, data)
        whl.writestr("tinypkg-0.1.0.dist-info/RECORD", "\n".join(record) + "\n")


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[EnvironmentCache]:
    cache = EnvironmentCache(tmp_path / "envs")
    yield cache
    for lock in (tmp_path / "envs").glob("*.lock"):  # envs are read-only: remove them properly
        cache.remove(lock.stem)


@pytest.fixture
def code(tmp_path: Path) -> Path:
    code = tmp_path / "code"
    write_wheel(code / "wheels" / WHEEL)
    (code / "requirements.txt").write_text(f"./wheels/{WHEEL}\n")  # relative to the bundle
    (code / "broken.txt").write_text("./wheels/missing-0.1.0-py3-none-any.whl\n")
    return code


def run_in(env: EnvironmentInfo, source: str) -> str:
    out = subprocess.run([str(env.python), "-c", source], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_plain_venv_without_requirements(cache: EnvironmentCache, code: Path) -> None:
    digest = digest_of("plain")
    assert cache.status(digest) is EnvironmentStatus.MISSING
    env = cache.ensure(digest, code, None)
    assert env.built is True
    assert env.path == cache.path(digest)
    assert run_in(env, "import sys; print(sys.prefix)") == str(env.path)
    # No system site-packages: the server's own packages stay invisible to algorithms.
    assert run_in(env, "import importlib.util as u; print(u.find_spec('pydantic'))") == "None"
    assert cache.ensure(digest, code, None) == EnvironmentInfo(env.python, env.path, built=False)
    assert cache.status(digest) is EnvironmentStatus.BUILT
    assert cache.log(digest).count(HEADER) == 1
    for path in [env.path, env.path / "pyvenv.cfg", env.path / "bin"]:
        assert path.stat().st_mode & 0o222 == 0, f"{path} is still writable"


def test_requirements_installed_and_logged(
    cache: EnvironmentCache, code: Path, tmp_path: Path
) -> None:
    digest = digest_of("wheel")
    stale = cache.path(digest) / "half-built"  # left by a build that crashed: never reused
    stale.mkdir(parents=True)
    job_log = tmp_path / "job.log"
    job_log.write_text("earlier job output\n")
    env = cache.ensure(digest, code, "requirements.txt", log_path=job_log)
    assert env.built
    assert not stale.exists()
    assert run_in(env, "import tinypkg; print(tinypkg.VALUE)") == "42"
    text = job_log.read_text()
    assert text.startswith("earlier job output\n")  # appended, not replaced
    assert "+ tinypkg==0.1.0" in text
    assert "+ tinypkg==0.1.0" in cache.log(digest)
    assert "installer: uv" in text


def test_failed_build_leaves_nothing_and_can_be_retried(
    cache: EnvironmentCache, code: Path
) -> None:
    digest = digest_of("broken")
    with pytest.raises(EnvironmentBuildFailed) as info:
        cache.ensure(digest, code, "broken.txt")
    err = info.value
    assert err.code == "environment_build_failed"
    assert "missing-0.1.0-py3-none-any.whl" in err.log_tail
    assert "=== build failed" in err.details["log_tail"]
    assert len(err.log_tail) <= 2048
    assert not cache.path(digest).exists()
    assert cache.status(digest) is EnvironmentStatus.FAILED
    assert "Distribution not found" in cache.log(digest)
    env = cache.ensure(digest, code, "requirements.txt")
    assert env.built
    assert cache.status(digest) is EnvironmentStatus.BUILT
    assert cache.log(digest).count(HEADER) == 2  # the failed attempt's log is kept


def test_pip_fallback_builds_and_fails_like_before(tmp_path: Path, code: Path) -> None:
    """Where uv is missing (or `installer="pip"`): `python -m venv` + pip, pip's own messages."""
    cache = EnvironmentCache(tmp_path / "pip-envs", installer="pip")
    env = cache.ensure(digest_of("pip"), code, "requirements.txt")
    assert run_in(env, "import tinypkg; print(tinypkg.VALUE)") == "42"
    assert "installer: python -m venv + pip" in cache.log(digest_of("pip"))
    assert "Successfully installed tinypkg-0.1.0" in cache.log(digest_of("pip"))
    assert run_in(env, "import pip; print(pip.__name__)") == "pip"  # the venv is seeded
    with pytest.raises(EnvironmentBuildFailed):
        cache.ensure(digest_of("pip-broken"), code, "broken.txt")
    assert "does not exist" in cache.log(digest_of("pip-broken"))
    for digest in (digest_of("pip"), digest_of("pip-broken")):
        cache.remove(digest)


def test_uv_cache_is_shared_and_bundle_uv_config_ignored(
    cache: EnvironmentCache, code: Path
) -> None:
    # A bundle's uv.toml must not pick the index: uv runs with --no-config.
    (code / "uv.toml").write_text('index-url = "http://127.0.0.1:1/simple"\nno-cache = true\n')
    first = cache.ensure(digest_of("uv-a"), code, "requirements.txt")
    second = cache.ensure(digest_of("uv-b"), code, "requirements.txt")
    assert run_in(second, "import tinypkg; print(tinypkg.VALUE)") == "42"
    assert first.path != second.path
    assert any((cache.root / ".uv-cache").iterdir())  # one cache under the envs root
    assert "127.0.0.1:1" not in cache.log(digest_of("uv-b"))


@pytest.mark.parametrize("requirements", ["../outside.txt", "nothere.txt", "/etc/hostname"])
def test_bad_requirements_path(cache: EnvironmentCache, code: Path, requirements: str) -> None:
    with pytest.raises(InvalidInput) as info:
        cache.ensure(digest_of("bad-path"), code, requirements)
    assert info.value.details["errors"][0]["loc"] == "requirements"


@pytest.mark.parametrize("digest", ["sha256:abc", "../../etc", "sha256:" + "G" * 64])
def test_bad_digest(cache: EnvironmentCache, code: Path, digest: str) -> None:
    with pytest.raises(ValueError, match="not a sha256 digest"):
        cache.ensure(digest, code, None)


CHILD = """
import json, sys
from pathlib import Path
from forgeml.training.environments import EnvironmentCache
env = EnvironmentCache(sys.argv[1]).ensure(sys.argv[2], Path(sys.argv[3]), "requirements.txt")
print(json.dumps({"built": env.built, "path": str(env.path)}))
"""


def test_concurrent_callers_build_once(cache: EnvironmentCache, code: Path) -> None:
    digest = digest_of("shared")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(cache.root), digest, str(code)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results: list[tuple[bool, str]] = []

    def call() -> None:
        env = EnvironmentCache(cache.root).ensure(digest, code, "requirements.txt")
        results.append((env.built, str(env.path)))

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        child = json.loads(out)
        results.append((child["built"], child["path"]))
    assert len(results) == 6
    assert sorted(built for built, _ in results) == [False] * 5 + [True]
    assert {path for _, path in results} == {str(cache.path(digest))}
    assert cache.log(digest).count(HEADER) == 1


def test_waiters_share_a_failure_instead_of_repeating_it(
    cache: EnvironmentCache, code: Path
) -> None:
    digest = digest_of("broken-shared")
    errors: list[BaseException] = []

    def call() -> None:
        try:
            cache.ensure(digest, code, "broken.txt")
        except EnvironmentBuildFailed as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(errors) == 3
    assert cache.log(digest).count(HEADER) == 1


@pytest.mark.slow
def test_torch_from_pinned_requirements(cache: EnvironmentCache, tmp_path: Path) -> None:
    code = tmp_path / "torch-code"
    code.mkdir()
    # Pinned exactly: the machine's pip configuration then takes the local CPU wheel.
    (code / "requirements.txt").write_text("torch==2.13.0\n")
    env = cache.ensure(digest_of("torch"), code, "requirements.txt")
    assert run_in(env, "import torch; print(torch.__version__)") == "2.13.0+cpu"
    assert run_in(env, "import torch; print(int(torch.ones(3).sum()))") == "3"
