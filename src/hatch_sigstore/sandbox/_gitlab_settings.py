"""Instance, plan and group settings of the GitLab stand-in: deployment variants to test against.

Every default keeps the stand-in's first model (a GitLab with local storage, no Workhorse limits
and its own URL as ``external_url``); each flag turns on one behaviour of real deployments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hatch_sigstore._urls import is_loopback_host

__all__ = ["GIB", "PYPI_SIMPLE", "Settings"]

GIB = 1 << 30
# API::Helpers::Packages::DependencyProxyHelpers::REGISTRY_BASE_URLS[:pypi]
PYPI_SIMPLE = "https://pypi.org/simple/"


@dataclass
class Settings:
    """Mutable at any time; read per request."""

    allow_generic_duplicates: bool = True  # namespace package setting generic_duplicates_allowed
    generic_duplicate_exception_regex: str = ""  # generic_duplicate_exception_regex
    # pypi_package_requests_forwarding: an unknown name's simple page answers 302 to
    # pypi_forward_url + name + "/" (what GitLab does by default), else 404.
    pypi_forwarding: bool = True
    # registry_base_url(:pypi) in lib/api/helpers/packages/dependency_proxy_helpers.rb:
    # pypi.org's simple index (an edition may override it). The sandbox may point it at a
    # loopback index (the PyPI stand-in), so that a client following the 302 stays local.
    pypi_forward_url: str = PYPI_SIMPLE
    max_pypi_file_size: int = 3 * GIB  # plan limit pypi_max_file_size
    max_generic_file_size: int = 5 * GIB  # plan limit generic_packages_max_file_size
    generic_job_token_basic_auth: bool = False  # Basic gitlab-ci-token on generic PUT (>= 19.0)
    # generic_package_file_name_regex by GitLab version: "17" (<= 17.10: no ~), "18" (~ inside
    # the name, no @), "18-at" (~ and @ inside the name). "newest" is an alias of "18".
    generic_file_name_regex: str = "18"
    pep691_json: bool = False  # feature flag pypi_pep_691_json (18.10, default off)
    packages_enabled: bool = True  # instance-wide packages switch (off -> 404)

    # Gitlab.config.gitlab.url: the base of every absolute URL GitLab builds (simple-index
    # links, pagination links, _links). "" = the address the stand-in listens on. Set it to an
    # alias (another host name or port, see GitLabRegistry.add_listener) to model a user who
    # reaches the API on an address other than the instance's external_url.
    external_url: str = ""
    # Package files uploaded while this is on are stored in the object store (file_store 2,
    # config/gitlab.yml packages.object_store.enabled) and downloads answer as GitLab does then.
    object_storage: bool = False
    # packages.object_store.proxy_download: Workhorse streams the object (send-url) instead of
    # redirecting the client to a pre-signed URL.
    proxy_download: bool = False
    # Lifetime of pre-signed download URLs in seconds: CarrierWave's default
    # fog_authenticated_url_expiration (600), which GitLab's uploaders keep.
    object_store_url_expiry: int = 600
    # Workhorse enforces the MaximumSize of the /authorize answer: a PyPI upload whose file part
    # exceeds max_pypi_file_size is cut with 413 text/plain before Rails sees it. Off: Rails
    # answers 400 "File is too large" (GitLab without Workhorse in front).
    workhorse_maximum_size: bool = False
    # Package protection rules of type generic are enforced (GitLab >= 18.1 behind the feature
    # flag packages_protected_packages_generic, without it later). PyPI rules always are.
    protect_generic_packages: bool = True

    @classmethod
    def offline(cls, **changes: Any) -> Settings:
        """Settings for a registry that real clients read (pip, uv, ``sandbox up``, the demo):
        forwarding off, so an unknown name is a 404 and no answer sends a client off loopback."""
        return cls(**{"pypi_forwarding": False, **changes})

    def forward_target(self, name: str) -> str | None:
        """Where an unknown PyPI name's simple page redirects to (None: it answers 404)."""
        if not self.pypi_forwarding:
            return None
        return f"{self.pypi_forward_url.rstrip('/')}/{name}/"

    @property
    def stays_on_loopback(self) -> bool:
        """Whether every redirect this registry answers with keeps a client on loopback
        (forwarding off, or forwarded to a loopback index; object storage listens on
        loopback)."""
        target = self.forward_target("x")
        return target is None or is_loopback_host(urlsplit(target).hostname or "")
