"""``hatch publish -p gitlab``: hatch glue around :mod:`hatch_sigstore.publish`.

Options → settings → dists → preflight → plan → upload → summary; every decision is in the core,
this module only talks to hatch (its config tables, its terminal, ``app.abort``). Registered by
:mod:`hatch_sigstore.hatch.hooks` (``hatch_register_publisher``); importing it needs hatch, so
only that hook imports it, lazily.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from hatch.publish.plugin.interface import PublisherInterface

from hatch_sigstore._text import printable
from hatch_sigstore.errors import HatchSigstoreError, quote
from hatch_sigstore.publish import (
    PLUGIN_NAME,
    ItemResult,
    UploadItem,
    build_plan,
    collect_dists,
    execute,
    preflight,
    require_preflight,
    resolve_settings,
)

__all__ = ["GitLabPublisher", "SigstorePublisher", "client_options", "show_plan", "show_summary"]

# Files at least this big get a progress bar (when the terminal is interactive).
PROGRESS_MIN_BYTES = 8 * 1024 * 1024


class _HatchReporter:
    """Progress bars for big files, one line per finished upload."""

    def __init__(self, app: Any, secrets: Sequence[str]) -> None:
        self._app = app
        self._secrets = tuple(secrets)
        self._lock = threading.Lock()
        self._progress: Any = None
        self._tasks: dict[UploadItem, Any] = {}
        console = getattr(app, "console", None)
        self._interactive = bool(console is not None and console.is_terminal)

    def __enter__(self) -> _HatchReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def upload_started(self, item: UploadItem) -> Callable[[int], None] | None:
        if not self._interactive or item.size < PROGRESS_MIN_BYTES:
            return None
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        with self._lock:
            if self._progress is None:
                self._progress = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    DownloadColumn(binary_units=True),
                    TransferSpeedColumn(),
                    TimeRemainingColumn(),
                    console=self._app.console,
                    transient=True,
                )
                self._progress.start()
            task = self._progress.add_task(f"{item.registry} {item.filename}", total=item.size)
            self._tasks[item] = task
        progress = self._progress

        def advance(sent: int) -> None:
            progress.update(task, completed=min(sent, item.size))

        return advance

    def upload_finished(self, result: ItemResult) -> None:
        item = result.item
        with self._lock:
            task = self._tasks.pop(item, None)
            if task is not None and self._progress is not None:
                self._progress.remove_task(task)
        where = f"{item.registry:<7} {item.filename}"
        if result.status == "uploaded":
            self._app.display_success(f"uploaded  {where}")
        elif result.status == "present":
            self._app.display_info(f"skipped   {where} (already there, same sha256)")
        else:
            self._app.display_error(f"FAILED    {where}: {quote(result.message, self._secrets)}")


class SigstorePublisher(PublisherInterface):
    """What ``-p gitlab`` and ``-p pypi`` share: every error one paragraph, secrets redacted,
    through ``app.abort`` (no traceback)."""

    _secrets: tuple[str, ...] = ()

    def publish(self, artifacts: list[str], options: dict[str, Any]) -> None:
        try:
            self._publish(artifacts, options)
        except HatchSigstoreError as exc:
            self.app.abort(quote(str(exc), self._secrets, keep_newlines=True))

    def _publish(self, artifacts: list[str], options: dict[str, Any]) -> None:
        raise NotImplementedError


class GitLabPublisher(SigstorePublisher):
    """Signature files to GitLab's generic registry, then the dists to its PyPI registry."""

    PLUGIN_NAME = PLUGIN_NAME

    def _publish(self, artifacts: list[str], options: dict[str, Any]) -> None:
        app = self.app
        settings = resolve_settings(
            options,
            self.project_config,
            self.plugin_config,
            artifacts=artifacts,
            root=Path(self.root),
            env=os.environ,
        )
        dists = collect_dists(settings.artifacts)
        if settings.allow_unsigned:
            app.display_warning(
                "WARNING: allow-unsigned is set: dists that are unsigned or signed by someone "
                "else WILL be published. Consumers checking signatures will reject them."
            )
        results = preflight(dists, settings)
        plan = build_plan(dists, results, settings)
        if settings.dry_run:
            show_plan(app, plan)
            # a missing token, or one that may not go to the URL, fails the dry run too
            settings.credentials().check_destination(settings.api_url)
            require_preflight(results, settings)
            app.display_success("Dry run: nothing was sent to the registry.")
            return
        require_preflight(results, settings)
        for r in results:
            if not r.ok:
                app.display_warning(
                    printable(f"UNSIGNED: publishing {r.dist.filename} ({r.detail})")
                )
        credentials = settings.credentials()
        secrets = self._secrets = tuple(credentials.secrets)
        from hatch_sigstore.gitlab import RegistryClient

        client_kwargs = client_options(settings)
        app.display_info(
            f"Publishing {len(plan.pypi)} dist(s) and {len(plan.generic)} signature file(s) to "
            f"{settings.project_api_url}/packages as {credentials.describe()}"
        )
        # GitLab builds index links on its external_url (CI_SERVER_URL in CI), which may be
        # another name for the instance than the API URL used here.
        client_kwargs["server_url"] = settings.env.get("CI_SERVER_URL") or None
        client = RegistryClient(settings.api_url, settings.project, credentials, **client_kwargs)
        with client, _HatchReporter(app, secrets) as reporter:
            summary = execute(plan, client, reporter, secrets=secrets)
        show_summary(app, summary)
        if not summary.ok:
            app.abort(quote(str(summary.error(with_state=False)), secrets))


class _ClientSettings(Protocol):
    @property
    def timeout(self) -> float | None: ...

    @property
    def retries(self) -> int | None: ...


def client_options(settings: _ClientSettings) -> dict[str, Any]:
    """The client keywords the publisher's table sets (the rest keep the client's defaults)."""
    options: dict[str, Any] = {}
    if settings.timeout is not None:
        options["timeout"] = settings.timeout
    if settings.retries is not None:
        options["retries"] = settings.retries
    return options


class _Renders(Protocol):
    def render(self) -> list[str]: ...


def show_plan(app: Any, plan: _Renders) -> None:
    """A dry run's plan; names, signers and verdicts come from files: printable only."""
    for line in plan.render():
        app.display_info(printable(line))


class SummaryView(Protocol):
    """What :func:`show_summary` reads of a GitLab or PyPI summary."""

    @property
    def results(self) -> tuple[ItemResult, ...]: ...

    @property
    def ok(self) -> bool: ...

    def registry_state(self) -> str: ...


def show_summary(app: Any, summary: SummaryView, *, label: str = "Registry state") -> None:
    """The counts, what was not attempted, and the state it leaves (also for ``-p pypi``)."""
    counts: dict[str, int] = {}
    for r in summary.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    app.display_info(
        "Summary: "
        + ", ".join(
            f"{counts.get(k, 0)} {text}"
            for k, text in (
                ("uploaded", "uploaded"),
                ("present", "skipped (already there)"),
                ("failed", "failed"),
                ("not attempted", "not attempted"),
            )
        )
    )
    skipped = [r for r in summary.results if r.status == "not attempted"]
    if skipped:
        kinds = {r.item.registry for r in skipped}
        app.display_info(
            f"  not attempted: {len(skipped)} file(s) "
            f"({' and '.join(sorted(kinds))} registry) after the first failure"
        )
    show = app.display_success if summary.ok else app.display_warning
    show(printable(f"{label}: {summary.registry_state()}"))
