"""``hatch publish -p pypi``: hatch glue around the pypi target of :mod:`hatch_sigstore.publish`.

Options → settings → dists → what the index holds (anonymous reads) → preflight of the rest
(attestations checked with PyPI's rules) → plan → token (trusted publishing, or an API token;
none when there is nothing to send) → uploads → summary. Every decision is in the core;
this module only talks to hatch. Registered by :mod:`hatch_sigstore.hatch.hooks` beside the
GitLab publisher; importing it needs hatch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hatch_sigstore.errors import quote
from hatch_sigstore.hatch.publisher import (
    SigstorePublisher,
    _HatchReporter,
    client_options,
    show_plan,
    show_summary,
)
from hatch_sigstore.publish import (
    PYPI_PLUGIN_NAME,
    PyPISettings,
    build_pypi_plan,
    collect_dists,
    execute_pypi,
    index_state,
    pypi_preflight,
    require_pypi,
    resolve_pypi,
)

if TYPE_CHECKING:
    from hatch_sigstore.pypi import IndexClient

__all__ = ["PyPIPublisher"]


class PyPIPublisher(SigstorePublisher):
    """Wheels and sdists, each with its PEP 740 attestation, to PyPI (or any warehouse)."""

    PLUGIN_NAME = PYPI_PLUGIN_NAME

    def _publish(self, artifacts: list[str], options: dict[str, Any]) -> None:
        app = self.app
        settings = resolve_pypi(
            options,
            self.project_config,
            self.plugin_config,
            artifacts=artifacts,
            root=Path(self.root),
            env=os.environ,
        )
        if settings.id_token is not None:
            self._secrets = (settings.id_token.value,)
        dists = collect_dists(settings.artifacts)
        if not settings.attestations:
            app.display_warning(
                "WARNING: attestations = false: the dists go to the index WITHOUT attestations "
                "and without a signature check; consumers cannot verify them there."
            )
        from hatch_sigstore.pypi import IndexClient

        kwargs = client_options(settings)
        if settings.ca_bundle is not None:
            kwargs["verify"] = settings.ca_bundle
        with IndexClient(settings.urls, **kwargs) as client:
            # anonymous reads first: what is there already is neither verified nor sent
            present = index_state(dists, client, settings.urls.name)
            results = pypi_preflight(dists, settings, present=present)
            plan = build_pypi_plan(dists, results, settings, present=present)
            if settings.dry_run:
                show_plan(app, plan)
                if settings.id_token is None:
                    settings.api_token()  # a missing token fails the dry run too
                require_pypi(results, settings)
                app.display_success(
                    "Dry run: no token was exchanged and nothing was sent to the index."
                )
                return
            require_pypi(results, settings)
            if len(present) < len(dists):
                self._authenticate(client, settings, plan.items[0].package)
                app.display_info(
                    f"Publishing {len(dists) - len(present)} dist(s) ({len(plan.attestations)} "
                    f"with attestations) to {settings.urls.upload}"
                )
            secrets = self._secrets = tuple(dict.fromkeys((*self._secrets, *client.secrets)))
            with _HatchReporter(app, secrets) as reporter:
                summary = execute_pypi(plan, client, reporter, secrets=secrets)
        if len(present) == len(dists):
            app.display_info("Nothing to send, so no token was exchanged.")
        show_summary(app, summary, label="Index state")
        if not summary.ok:
            app.abort(quote(str(summary.error(with_state=False)), secrets))

    def _authenticate(self, client: IndexClient, settings: PyPISettings, project: str) -> None:
        """Trusted publishing with the job's ID token, else the API token."""
        app = self.app
        if settings.id_token is not None:
            app.display_info(
                f"Trusted publishing: exchanging the ID token in {settings.id_token.source} "
                f"at {settings.urls.mint_token_url}"
            )
            client.exchange(settings.id_token, project=project)
        else:
            client.token = settings.api_token()
            app.display_warning(
                f"Publishing with the API token in {settings.token_env}: PyPI accepts "
                "attestations only with trusted publishing, so none are sent."
            )
        self._secrets = tuple(dict.fromkeys((*self._secrets, *client.secrets)))
