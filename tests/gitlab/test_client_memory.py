"""Constant memory: a 200 MiB upload to the GitLab stand-in, measured in a child process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    pass

from registry_helpers import Env

# -- memory ---------------------------------------------------------------------------------

MEMORY_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, resource, sys
    from pathlib import Path
    from hatch_sigstore.gitlab import Credentials, RegistryClient

    api, project, token, path, kind = sys.argv[1:6]
    path = Path(path)
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    sha = digest.hexdigest()

    def rss_kib():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    client = RegistryClient(api, project, Credentials("job", token))
    peak = {"rss": rss_kib()}
    base = peak["rss"]
    def progress(n):
        peak["rss"] = max(peak["rss"], rss_kib())
    if kind == "pypi":
        out = client.pypi_upload(path, name="big", version="1.0", sha256=sha, progress=progress)
    else:
        out = client.generic_upload("big", "1.0", path, sha256=sha, progress=progress)
    client.close()
    print(json.dumps({"outcome": out.value, "base_kib": base, "peak_kib": peak["rss"],
                      "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    """
)


@pytest.mark.parametrize("kind", ["pypi", "generic"])
def test_streaming_upload_memory_is_constant(standin: Env, kind: str) -> None:
    size = 200 * 1024 * 1024
    path = standin.tmp / "big-1.0-py3-none-any.whl"
    with path.open("wb") as fh:
        fh.truncate(size)  # sparse: costs no disk
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            MEMORY_SCRIPT,
            standin.registry.api_url,
            str(standin.project.id),
            standin.token,
            str(path),
            kind,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    data = json.loads(result.stdout)
    growth_mib = (data["peak_kib"] - data["base_kib"]) / 1024
    print(
        f"{kind}: 200 MiB upload, RSS growth {growth_mib:.1f} MiB, "
        f"peak RSS {data['maxrss_kib'] / 1024:.1f} MiB, {elapsed:.1f} s"
    )
    assert data["outcome"] == "uploaded"
    assert growth_mib < 25, data
    if kind == "pypi":
        assert [f.filename for f in standin.registry.pypi_files(standin.project)] == [path.name]
    else:
        assert [f.filename for f in standin.registry.generic_files(standin.project)] == [path.name]
