"""The local Sigstore's HTTP side (``_sigstore_http.py``): junk requests get JSON errors, and the
services keep serving."""

from __future__ import annotations

import socket

import pytest
from sigstore_helpers import (
    http,
)

from hatch_sigstore.sandbox import LocalSigstore


@pytest.mark.parametrize(
    ("path", "content", "headers"),
    [
        ("/api/v1/log/entries", b"{not json", {}),
        ("/api/v1/log/entries/retrieve", b'"a string"', {}),
        ("/api/v2/signingCert", b"[]", {"Authorization": "Bearer x"}),
        ("/sandbox/token", b'{"expires_in": "soon"}', {}),
        ("/nowhere", b"{}", {}),
    ],
)
def test_http_junk_gets_json_errors(
    sandbox: LocalSigstore, path: str, content: bytes, headers: dict[str, str]
) -> None:
    response = http().post(f"{sandbox.url}{path}", content=content, headers=headers)
    assert response.status_code in (400, 401, 404)
    assert "message" in response.json()
    assert http().get(f"{sandbox.url}/api/v1/log").status_code == 200


@pytest.mark.parametrize("length", ["-5", "abc", str(64 * 1024 * 1024)])
def test_bad_content_length_is_refused(sandbox: LocalSigstore, length: str) -> None:
    host, port = sandbox.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(
            f"POST /api/v1/log/entries HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        reply = b""
        while chunk := conn.recv(4096):
            reply += chunk
    status = int(reply.split(b" ", 2)[1])
    assert status in (400, 413)
    assert b'"message"' in reply
