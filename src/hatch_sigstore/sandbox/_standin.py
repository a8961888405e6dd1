"""The base of both registry stand-ins: listeners, lifecycle, request log, busy counting, errors.

A stand-in (:class:`StandIn` subclass) brings its routes (``_route``), what they get along
with each request (``_context``) and its 500 page (``_internal_error``); this base serves them with
:class:`~hatch_sigstore.sandbox._faulty_handler.FaultyHandler` on loopback, keeps the log that
tests assert on, and knows when no request is in flight.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any, Generic, TypeVar

from hatch_sigstore.sandbox._body import BodyError
from hatch_sigstore.sandbox._faults import FaultInjector
from hatch_sigstore.sandbox._faulty_handler import FaultyHandler
from hatch_sigstore.sandbox._http import LoopbackServer, Running
from hatch_sigstore.sandbox._wire import Request, RequestInfo, RequestRecord, Response

__all__ = ["StandIn"]

C = TypeVar("C")  # what the stand-in's routes get along with each request
_S = TypeVar("_S", bound="StandIn[Any]")


class StandIn(Running, Generic[C]):
    """A service on ``http://HOST:PORT``; ``state_dir`` holds what it stores (a temporary
    folder, removed on :meth:`stop`, when None)."""

    service = "stand-in"  # the request log's name for it
    server_header = "hatch-sigstore-sandbox"

    def __init__(self, *, host: str, port: int, state_dir: Path | None, temp_prefix: str) -> None:
        self._temp = Path(tempfile.mkdtemp(prefix=temp_prefix)) if state_dir is None else None
        self.state_dir = self._temp if self._temp is not None else Path(state_dir)  # type: ignore[arg-type]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.faults = FaultInjector()
        self.errors: list[str] = []  # tracebacks of internal errors (answered 500)
        self._log: list[RequestInfo] = []
        self._log_lock = threading.Lock()
        self._stopping = threading.Event()
        self._inflight = 0  # requests being handled, late stores included
        self._idle = threading.Condition()
        self._disconnects = 0  # clients that went away abruptly (routine, never printed)
        self._disconnect_cond = threading.Condition()
        self._server = LoopbackServer(FaultyHandler, owner=self, host=host, port=port)
        self._listeners: list[LoopbackServer] = []

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: where it listens."""
        return self._server.url

    def add_listener(self, *, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the same instance on another address too (an alias host or port, as a
        reverse proxy or a second DNS name gives a real instance); returns its URL."""
        server = LoopbackServer(FaultyHandler, owner=self, host=host, port=port).start()
        self._listeners.append(server)
        return server.url

    def start(self: _S) -> _S:
        self._stopping.clear()
        self._server.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # late stores give up
        self._server.stop()
        for server in self._listeners:
            server.stop()
        self._listeners.clear()
        self.wait_idle(5)
        self._cleanup()
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)

    def _cleanup(self) -> None:
        """What a stand-in releases on :meth:`stop`, before its temporary state dir goes."""

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (``python -m``, ``sandbox serve``)."""
        self._server.serve_forever()

    @property
    def spool_dir(self) -> Path:
        """Where bodies wait for a late store (``store_after_502``)."""
        spool = self.state_dir / "tmp"
        spool.mkdir(parents=True, exist_ok=True)
        return spool

    # -- the request log -----------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        """``(method, path, status)`` of every request so far (a copy)."""
        with self._log_lock:
            return [info.record for info in self._log]

    @property
    def request_log(self) -> list[RequestInfo]:
        """Every request so far, in full (a copy; never a credential)."""
        with self._log_lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    def _record(self, info: RequestInfo) -> None:
        with self._log_lock:
            self._log.append(info)

    # -- in flight -----------------------------------------------------------------------------
    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no request is being handled (a slow or late store included); False on
        timeout. For tests that provoke work the client does not wait for."""
        with self._idle:
            return self._idle.wait_for(lambda: self._inflight == 0, timeout)

    def _busy(self, delta: int) -> None:
        with self._idle:
            self._inflight += delta
            if self._inflight == 0:
                self._idle.notify_all()

    @property
    def disconnects(self) -> int:
        """How many connections clients reset or dropped outside a request (e.g. an idle
        keep-alive connection closed with RST). Routine, so never printed."""
        with self._disconnect_cond:
            return self._disconnects

    def wait_for_disconnects(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until :attr:`disconnects` reaches ``count``; False on timeout."""
        with self._disconnect_cond:
            return self._disconnect_cond.wait_for(lambda: self._disconnects >= count, timeout)

    def _client_disconnected(self) -> None:
        with self._disconnect_cond:
            self._disconnects += 1
            self._disconnect_cond.notify_all()

    def _server_error(self, text: str) -> None:
        """An internal error: kept in :attr:`errors` and shown on stderr (never silenced)."""
        self.errors.append(text)
        print(text, file=sys.stderr)

    # -- what the handler asks -------------------------------------------------------------------
    def _context(self) -> C:
        """What each request carries to the routes (``Request.ctx``)."""
        raise NotImplementedError

    def _answer(self, req: Request[C]) -> Response:
        """The route's answer; a bug in it is kept (:attr:`errors`) and answered 500."""
        try:
            return self._route(req)
        except BodyError:
            raise  # the client went away: the handler closes the connection
        except Exception:
            self._server_error(traceback.format_exc())
            return self._internal_error(req)

    def _route(self, req: Request[C]) -> Response:
        raise NotImplementedError

    def _internal_error(self, req: Request[C]) -> Response:
        raise NotImplementedError
