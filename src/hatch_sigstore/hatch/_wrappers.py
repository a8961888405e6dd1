"""Other plugins' version sources and metadata hooks, wrapped so that they see the CI metadata.

hatchling finds plugins with pluggy (``hatchling/plugin/manager.py``): a registry asks every
registered module for its classes (``hatch_register_version_source``,
``hatch_register_metadata_hook``) and picks one by ``PLUGIN_NAME``. A pluggy hook wrapper
(:mod:`hatch_sigstore.hatch.hooks`) sees that list and returns it with each class replaced by a
subclass of it that differs in one method:

* a version source's ``get_version_data`` answers with the CI version while our metadata
  rewrite is active for its project, else exactly as before;
* a metadata hook's ``update`` gets the table with the CI values applied before its turn and
  re-applied after it.

Everything else (``PLUGIN_NAME``, options, ``set_version`` for ``hatch version X``, ``isinstance``)
is the original class's. When no project with our metadata hook is being resolved, the
subclasses behave exactly like the originals. See :mod:`hatch_sigstore.hatch._rewrite`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["wrap_metadata_hooks", "wrap_version_sources"]

_WRAPPED = "_hatch_sigstore_wraps"  # set on every subclass made here: wrap each class once
_CACHE: dict[tuple[type, str], type] = {}


def _map(result: list[Any], wrap: Any) -> list[Any]:
    """pluggy's list of answers: each a class, or a list of classes."""
    return [[wrap(c) for c in item] if isinstance(item, list) else wrap(item) for item in result]


def _subclass(cls: type, kind: str, method: str, body: Any) -> type:
    if not isinstance(cls, type) or getattr(cls, _WRAPPED, None) is not None:
        return cls
    key = (cls, kind)
    sub = _CACHE.get(key)
    if sub is None:
        namespace = {
            method: body,
            _WRAPPED: cls,
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
        }
        sub = _CACHE[key] = type(cls.__name__, (cls,), namespace)
    return sub


def _wrap_source(cls: type) -> type:
    original = getattr(cls, "get_version_data", None)
    if original is None:
        return cls

    def get_version_data(self: Any) -> dict[str, Any]:
        from hatch_sigstore.hatch._rewrite import version_data

        result: dict[str, Any] = version_data(self, lambda: original(self))
        return result

    return _subclass(cls, "source", "get_version_data", get_version_data)


def _wrap_metadata_hook(cls: type) -> type:
    original = getattr(cls, "update", None)
    if original is None or getattr(cls, "_hatch_sigstore_own", False):
        return cls  # our own hook applies the rewrite itself

    def update(self: Any, metadata: dict[str, Any]) -> None:
        from hatch_sigstore.hatch._rewrite import around_update

        around_update(self, metadata, lambda: original(self, metadata))

    return _subclass(cls, "metadata", "update", update)


def wrap_version_sources(result: list[Any]) -> list[Any]:
    return _map(result, _wrap_source)


def wrap_metadata_hooks(result: list[Any]) -> list[Any]:
    return _map(result, _wrap_metadata_hook)
