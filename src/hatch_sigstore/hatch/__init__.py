"""The hatch glue: entry points, the metadata hook, the build hook and the GitLab publisher.

Thin by design: each module reads hatch's configuration and talks to hatch's terminal, and
leaves every decision to the layers below (:mod:`hatch_sigstore.sign`,
:mod:`hatch_sigstore.verify`, :mod:`hatch_sigstore.publish`), which work without hatch.
Nothing is imported here: hatchling loads :mod:`hatch_sigstore.hatch.hooks` in build
environments where neither hatch nor sigstore is installed.
"""
