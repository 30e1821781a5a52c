"""Lazy imports for the package namespaces (standard library only: importing it costs nothing).

``barcodefm`` (and ``barcodefm.trainers``) import their public names on first use, so
``barcodefm --help`` and the argument parsing of every command never import torch or
transformers (that used to cost ~5 s per command).

``import barcodefm`` has always registered barcodefm's classes with the ``Auto*`` classes of
transformers (see :mod:`barcodefm.registration`). To keep that promise without importing
transformers eagerly, :func:`register_with_transformers` registers at once when transformers is
already imported and otherwise installs a tiny import hook: the first time transformers is
imported in the process (by the user, or by a barcodefm module), the registration runs as soon
as that import, and any barcodefm module import around it, has finished (running it in the
middle would re-enter a half-initialised barcodefm module).
"""

from __future__ import annotations

import importlib
import sys
import threading

_state = threading.local()  # per-thread depth of the watched imports in progress
_done = False
_running = False


def lazy_getattr(package: str, names: dict[str, str]):
    """A module ``__getattr__`` that imports ``names[attr]`` (a submodule, relative to
    ``package``) on first access, caches the value in the package and falls back to
    importing a submodule of that name (``barcodefm.registry`` after a bare ``import barcodefm``)."""

    def __getattr__(attr: str):
        module = sys.modules[package]
        if attr in names:
            value = getattr(importlib.import_module(f"{package}.{names[attr]}"), attr)
            setattr(module, attr, value)
            return value
        if attr.isidentifier() and not attr.startswith("__"):
            try:
                return importlib.import_module(f"{package}.{attr}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{attr}":
                    raise
        raise AttributeError(f"module {package!r} has no attribute {attr!r}")

    return __getattr__


def _watched(name: str) -> bool:
    return name == "transformers" or name.startswith("barcodefm.")


def _register_now() -> None:
    global _done, _running
    if _done or _running or "transformers" not in sys.modules:
        return
    _running = True
    try:
        from .registration import register_auto_classes

        register_auto_classes()
        _done = True
    finally:
        _running = False
    _uninstall()


class _RegisterAfterTransformers:
    """A ``sys.meta_path`` finder that finds nothing itself: it wraps the loaders of
    ``transformers`` and ``barcodefm.*`` so the registration runs after the outermost of them."""

    def find_spec(self, name, path=None, target=None):
        if _done or not _watched(name):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None or getattr(exec_module, "_barcodefm_wrapped", False):
            return spec

        def wrapped(module):
            _state.depth = getattr(_state, "depth", 0) + 1
            try:
                exec_module(module)
            finally:
                _state.depth -= 1
            if _state.depth == 0:
                _register_now()

        wrapped._barcodefm_wrapped = True
        try:
            loader.exec_module = wrapped  # on this loader instance only: the spec stays the real one
        except AttributeError:  # a loader that refuses attributes: leave it alone
            pass
        return spec


_finder = _RegisterAfterTransformers()


def _uninstall() -> None:
    try:
        sys.meta_path.remove(_finder)
    except ValueError:
        pass


def register_with_transformers() -> None:
    """Register the Auto classes now if transformers is loaded, else once it is."""
    if "transformers" in sys.modules:
        _register_now()
    elif not _done and _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
