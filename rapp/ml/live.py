"""``LiveModel``: the champion a running process serves, swapped in when it is promoted."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from rapp.ml.card import ModelCard
from rapp.ml.registry import Registry, RegistryError

log = logging.getLogger(__name__)


class LiveModel:
    """The champion of one name for a running process, swapped in when it is promoted.

    ``get()`` looks at the ``current`` pointer at most every ``check_every`` seconds (a
    ``stat``: inode, mtime, size; ``os.replace`` always gives a new inode) and loads the new
    champion when it changed. A reload that fails keeps the model already loaded: the runtime
    goes on deciding, the failure is logged and kept in ``error``, and the same pointer is not
    retried until it changes again. ``shadow`` names a challenger version to load alongside,
    for the runtime to score and log, never to enact.
    """

    def __init__(
        self,
        registry: Registry,
        name: str,
        *,
        shadow: str | None = None,
        check_every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.name = name
        self.shadow_version = shadow
        self.check_every = check_every
        self._clock = clock
        self._lock = threading.Lock()
        self._model: Any = None
        self._card: ModelCard | None = None
        self._seen: tuple[int, int, int] | None = None
        self._checked_at: float | None = None
        self._shadow_model: Any = None
        self.error: str | None = None
        if shadow is not None:
            try:
                self._shadow_model = registry.load(name, shadow)
            except (RegistryError, ValueError) as exc:
                self._fail(f"shadow {name} {shadow} not loaded: {exc}")

    @property
    def version(self) -> str | None:
        """Version of the model ``get()`` returns (None before one loaded)."""
        return self._card.version if self._card else None

    @property
    def card(self) -> ModelCard | None:
        """Card of the loaded champion: its drift reference is what live data is checked with."""
        return self._card

    def get(self) -> Any:
        """The champion estimator, or None if none could ever be loaded (see ``error``)."""
        with self._lock:
            now = self._clock()
            if self._checked_at is None or now - self._checked_at >= self.check_every:
                self._checked_at = now
                self._refresh()
            return self._model

    def shadow(self) -> Any:
        """The shadow challenger, or None if none was asked for or it failed to load."""
        return self._shadow_model

    def _refresh(self) -> None:
        path = self.registry.pointer_path(self.name)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return
        except OSError as exc:
            self._fail(f"cannot read {path}: {exc}")
            return
        seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if seen == self._seen:
            return
        self._seen = seen
        try:
            version = self.registry.current(self.name)
            if version is None or version == self.version:
                return
            model, card = (
                self.registry.load(self.name, version),
                self.registry.card(self.name, version),
            )
        except (RegistryError, ValueError) as exc:
            kept = f"; keeping {self.version}" if self._model is not None else ""
            self._fail(f"{self.name}: champion not reloaded: {exc}{kept}")
            return
        previous = self.version
        self._model, self._card, self.error = model, card, None
        log.info("model %s: now serving %s (was %s)", self.name, version, previous)

    def _fail(self, message: str) -> None:
        self.error = message
        log.error("%s", message)
