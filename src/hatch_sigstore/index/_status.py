"""What the index verified, refused and passed through, and why: the log and ``/-/status``.

One log line per new verdict (a verdict repeated on the next listing is not logged again);
the status page shows the latest verdict of every file and the most recent events.
"""

from __future__ import annotations

import html
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from hatch_sigstore.errors import redact
from hatch_sigstore.index._names import visible

__all__ = ["Event", "Status"]

Outcome = Literal["verified", "refused", "pass-through", "upstream-error"]
LOG = logging.getLogger("hatch_sigstore.index")
_RECENT = 500
_ROW = "<tr class='{o}'><td>{p}</td><td>{f}</td><td>{u}</td><td>{o}{c}</td><td>{d}</td></tr>\n"


@dataclass(frozen=True)
class Event:
    project: str
    filename: str  # "" for a whole project (an upstream failure, an unlisted project)
    upstream: str
    outcome: Outcome
    detail: str
    sha256: str | None = None
    cached: bool = False
    when: float = 0.0


class Status:
    def __init__(self, secrets: Sequence[str] = ()) -> None:
        self._secrets = tuple(secrets)
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, str, str | None], Event] = {}
        self._recent: deque[Event] = deque(maxlen=_RECENT)
        self._counts = {"verified": 0, "refused": 0, "pass-through": 0, "upstream-error": 0}
        self.started = time.time()

    def add_secrets(self, secrets: Sequence[str]) -> None:
        self._secrets = (*self._secrets, *secrets)

    def record(self, event: Event) -> None:
        event = Event(
            visible(event.project),
            visible(event.filename, 255),
            event.upstream,
            event.outcome,
            visible(redact(event.detail, self._secrets), 2000),
            event.sha256,
            event.cached,
            time.time(),
        )
        key = (event.project, event.filename, event.sha256)
        with self._lock:
            previous = self._latest.get(key)
            self._latest[key] = event
            self._recent.append(event)
            changed = previous is None or (previous.outcome, previous.detail) != (
                event.outcome,
                event.detail,
            )
            if changed:
                self._counts[event.outcome] += 1
        if changed:
            _log(event)

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            latest = sorted(self._latest.values(), key=lambda e: (e.project, e.filename))
            recent = list(self._recent)[-100:]
            counts = dict(self._counts)
        return {
            "started": self.started,
            "counts": counts,
            "files": [asdict(e) for e in latest],
            "recent": [asdict(e) for e in reversed(recent)],
        }

    def render_json(self) -> bytes:
        return json.dumps(self.snapshot(), indent=1).encode()

    def render_html(self) -> bytes:
        data = self.snapshot()
        counts = data["counts"]
        assert isinstance(counts, dict)
        files = data["files"]
        assert isinstance(files, list)
        rows = "".join(
            _ROW.format(
                p=html.escape(e["project"]),
                f=html.escape(e["filename"] or "(project)"),
                u=html.escape(e["upstream"]),
                o=html.escape(e["outcome"]),
                c=" (cached)" if e["cached"] else "",
                d=html.escape(e["detail"]),
            )
            for e in files
        )
        summary = ", ".join(f"{html.escape(k)}: {v}" for k, v in counts.items())
        page = f"""<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <title>hatch-sigstore index: status</title>
    <style>td,th{{padding:2px 8px;text-align:left;vertical-align:top}}
    .refused,.upstream-error{{color:#a00}} .pass-through{{color:#a60}}</style>
  </head>
  <body>
    <h1>hatch-sigstore index</h1>
    <p>{summary}</p>
    <table>
      <tr><th>project</th><th>file</th><th>upstream</th><th>result</th>
          <th>identity or reason</th></tr>
      {rows}
    </table>
  </body>
</html>
"""
        return page.encode()


def _log(event: Event) -> None:
    what = f"{event.project} {event.filename}".rstrip()
    if event.outcome == "verified":
        cached = " (cached verdict)" if event.cached else ""
        LOG.info("VERIFIED %s from %s: %s%s", what, event.upstream, event.detail, cached)
    elif event.outcome == "refused":
        LOG.warning("REFUSED %s from %s: %s", what, event.upstream, event.detail)
    elif event.outcome == "pass-through":
        LOG.warning("PASS-THROUGH (unverified) %s from %s: %s", what, event.upstream, event.detail)
    else:
        LOG.error("UPSTREAM ERROR %s from %s: %s", what, event.upstream, event.detail)
