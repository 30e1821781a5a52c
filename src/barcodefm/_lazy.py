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

The Hub modules moved from ``barcodefm/`` to ``barcodefm/models/``; :func:`install_old_paths` adds
a ``sys.meta_path`` finder that answers ``import barcodefm.<old name>`` (for the names in
:data:`MOVED_TO_MODELS`) with the very module object ``barcodefm.models.<old name>``, so old
scripts, pickles and ``isinstance`` checks keep working without shim files.
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


# The Hub modules that lived at the top of the package before they moved to ``barcodefm.models``.
MOVED_TO_MODELS = frozenset(
    {
        "bert_layer",
        "configuration_barcodemae",
        "configuration_barcodemamba",
        "dna",
        "heads",
        "mamba_cache",
        "mamba_kernels",
        "mixer_common",
        "mixer_mamba1",
        "mixer_mamba2",
        "modeling_barcodemae",
        "modeling_barcodemamba",
        "pipeline_barcodefm",
        "pooling",
        "selective_scan",
        "ssd_chunk_scan",
        "taxonomy",
        "tokenization_barcode_bpe",
        "tokenization_barcode_char",
        "tokenization_barcode_kmer",
        "tokenization_dna_base",
    }
)


class _AliasLoader:
    """Loads ``barcodefm.<old name>`` by importing ``barcodefm.models.<old name>`` and putting that
    module in ``sys.modules`` under the old name too (the import system returns what
    ``sys.modules`` holds after ``exec_module``, so the placeholder module is dropped and the
    real module's ``__name__`` and ``__spec__`` stay untouched)."""

    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return None  # the default (empty) module: a placeholder, replaced in exec_module

    def exec_module(self, module):
        sys.modules[module.__name__] = importlib.import_module(self.target)


class _OldPathFinder:
    """``sys.meta_path`` finder for the old import paths of the Hub modules (see :data:`MOVED_TO_MODELS`)."""

    def find_spec(self, name, path=None, target=None):
        package, _, leaf = name.rpartition(".")
        if package != "barcodefm" or leaf not in MOVED_TO_MODELS:
            return None
        from importlib.machinery import ModuleSpec

        return ModuleSpec(name, _AliasLoader(f"barcodefm.models.{leaf}"))


_old_paths = _OldPathFinder()


def install_old_paths() -> None:
    """Make ``import barcodefm.<old name>`` give the module ``barcodefm.models.<old name>``."""
    if _old_paths not in sys.meta_path:
        sys.meta_path.insert(0, _old_paths)


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
