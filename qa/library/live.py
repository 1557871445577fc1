"""Following an index folder: a server answers from each newly published generation without a restart.

Any number of servers (on one machine or several, over a shared folder) can serve one index folder; each
polls the folder's ``CURRENT`` pointer and, when a build, an update or an upload on another server publishes
a new generation, loads it and swaps it in. Polling rather than inotify: inotify does not see changes made by
another machine on a network file system, and reading one small file every few seconds costs nothing.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from qa.answer.assistant import Assistant
from qa.errors import QAError
from qa.index import store
from qa.index.index import Index, load_index
from qa.settings import Settings

log = logging.getLogger(__name__)


class LiveAssistant:
    """The Assistant questions use now; ``use_index`` swaps in one over another index.

    A question reads ``.assistant`` once, so it finishes on the index it started with; the old index stays
    usable for it (qa.index.store keeps a replaced generation readable while it is open).
    """

    def __init__(self, assistant: Assistant) -> None:
        self._assistant = assistant
        self._swap = threading.Lock()

    @property
    def assistant(self) -> Assistant:
        return self._assistant

    def use_index(self, index: Index) -> bool:
        """Answer from ``index`` from now on (same k and min_score); False if it is the generation in use."""
        with self._swap:
            old = self._assistant
            if index.generation is not None and index.generation == old.index.generation:
                return False
            self._assistant = Assistant(index, k=old.k, min_score=old.min_score)
        return True


RETRY_FAILED_S = 60.0  # a generation that failed to load is tried again this long after (a passing I/O error)


class IndexFollower:
    """A daemon thread that checks every ``interval`` seconds which generation ``index_dir``'s ``CURRENT`` names,
    and when it is not the one ``live`` answers from, loads it and swaps it in.

    A generation that cannot be loaded (being replaced again, damaged, built with other settings) is logged
    once and tried again only after ``RETRY_FAILED_S`` (or as soon as another is published); meanwhile the server
    keeps answering from the one it has.
    """

    def __init__(self, live: LiveAssistant, index_dir: str | Path, settings: Settings, interval: float = 2.0) -> None:
        self.live, self.index_dir, self.settings, self.interval = live, Path(index_dir), settings, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="qa-index-follower", daemon=True)
        self._failed: str | None = None  # the generation whose load failure was last logged
        self._failed_at = 0.0  # when it failed (time.monotonic)

    def start(self) -> IndexFollower:
        self._thread.start()
        log.info("following %s for new index generations every %g s", self.index_dir, self.interval)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # the thread must outlive any surprise; the server keeps answering
                log.exception("checking %s for a new index failed", self.index_dir)

    def check(self) -> bool:
        """Swap in the generation ``CURRENT`` names if it is new; True if it did."""
        try:
            name = store.current_generation(self.index_dir).name
        except QAError as exc:
            return self._failure(str(self.index_dir / store.POINTER), exc)
        if name == self.live.assistant.index.generation:
            return False
        if name == self._failed and time.monotonic() - self._failed_at < RETRY_FAILED_S:
            return False  # a published generation does not change: reading it again every poll would only fail again
        try:
            index = load_index(self.index_dir, self.settings)
        except (QAError, OSError) as exc:
            return self._failure(name, exc)
        swapped = self.live.use_index(index)
        self._failed = None
        if swapped:
            log.info("now answering from %s (%d documents, %d chunks)", index.generation, len(index.documents),
                     len(index.chunks))
        return swapped

    def _failure(self, what: str, exc: Exception) -> bool:
        self._failed_at = time.monotonic()
        if self._failed != what:
            log.warning("new index %s cannot be loaded (%s): still answering from %s", what, exc,
                        self.live.assistant.index.generation)
            self._failed = what
        return False
