"""``--json`` whole-command errors: one JSON document, redacted after escapes are removed."""

from __future__ import annotations

import argparse
import json

import pytest

from hatch_sigstore.cli._json_errors import json_errors
from hatch_sigstore.errors import RegistryError

TOKEN = "glpat-" + "Zq8Lw2Xc5Vb7Nm3Kj9Hg"


@pytest.mark.parametrize(
    "said",
    [
        f"GitLab said: {TOKEN}",
        # an escape sequence inside the echo: removed after redaction, the token would be whole
        "GitLab said: glpat-Z\x1b[0mq8Lw2Xc5Vb7Nm3Kj9Hg",
        "GitLab said: glpat-Zq8Lw2X\x1b]0;x\x07c5Vb7Nm3Kj9Hg",
    ],
)
def test_the_json_error_never_holds_the_token(
    capsys: pytest.CaptureFixture[str], said: str
) -> None:
    def run(args: argparse.Namespace, secrets: list[str]) -> int:
        secrets.append(TOKEN)
        raise RegistryError(said)

    with pytest.raises(RegistryError):
        json_errors(run)(argparse.Namespace(json=True))
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False
    error = document["error"]
    assert "GitLab said: ***" in error
    assert not any(c in error for c in "\x1b\x07")
    assert all(TOKEN[i : i + 8] not in error.replace(" ", "") for i in range(len(TOKEN) - 7))
