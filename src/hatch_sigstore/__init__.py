"""hatch-sigstore: sign wheels and sdists with Sigstore as hatch builds them; publish to GitLab.

The package root stays import-light: build environments import ``hatch_sigstore.hatch.hooks``
and must not pay for sigstore or httpx unless they sign or publish.
"""

from hatch_sigstore.__about__ import __version__

__all__ = ["__version__"]
