"""The reader's tracings: decoded once off the event loop, then served window by window."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from consult.errors import InvalidInput
from consult.filestore import ContentStore
from ecg import window as w
from ecg.errors import EcgFormatError
from ecg.overview import overview
from ecg.pipeline import profile_of
from ecg.store import EcgRecording

logger = logging.getLogger(__name__)


class TracingUnreadable(InvalidInput):
    """The stored file can no longer be drawn (its reader refuses it)."""

    code = "tracing_unreadable"


def _build(
    root: Path,
    key: str,
    files_root: Path,
    sha256: str,
    filename: str,
    profile: Any,
    max_bytes: int,
) -> w.Tracing:
    """Read the original and store its tracing (runs in a worker)."""
    data = ContentStore(files_root).get(sha256)
    return w.build(root, key, data, filename, profile, max_bytes)


class Tracings:
    """Decoded tracings under ``root``, built from the ECG file store in ``executor``."""

    def __init__(
        self,
        root: Path,
        files: ContentStore,
        executor: Executor,
        max_bytes: int = w.CACHE_BYTES,
    ) -> None:
        self.root, self.files, self.executor = root, files, executor
        self.max_bytes = max_bytes
        self._building: dict[str, asyncio.Future[w.Tracing]] = {}

    async def tracing(self, recording: EcgRecording) -> tuple[str, w.Tracing]:
        """The recording's tracing, decoding the original the first time."""
        profile = profile_of(recording)
        key = w.cache_key(recording.sha256, profile)
        found = await asyncio.to_thread(w.stored, self.root, key)
        if found is not None:
            return key, found
        pending = self._building.get(key)
        if pending is None:
            loop = asyncio.get_running_loop()
            pending = asyncio.ensure_future(
                loop.run_in_executor(
                    self.executor,
                    _build,
                    self.root,
                    key,
                    self.files.root,
                    recording.sha256,
                    recording.filename,
                    profile,
                    self.max_bytes,
                )
            )
            self._building[key] = pending
            pending.add_done_callback(lambda _: self._building.pop(key, None))
        try:
            return key, await asyncio.shield(pending)
        except (EcgFormatError, ValueError) as exc:
            logger.warning("ECG %s cannot be drawn: %s", recording.id, exc)
            raise TracingUnreadable(
                f"心电图波形无法显示 / the tracing cannot be drawn: {exc}"
            ) from None

    async def window(
        self, recording: EcgRecording, start_s: float, duration_s: float, leads: str | None
    ) -> w.Window:
        """A window of the tracing; :class:`InvalidInput` naming the bad parameter."""
        key, tracing = await self.tracing(recording)
        try:
            names = w.choose_leads(tracing, leads)
            start, count = w.window_range(tracing, start_s, duration_s, names)
        except w.WindowError as exc:
            raise InvalidInput(str(exc), field=exc.field) from None
        try:
            return await asyncio.to_thread(
                w.read_window, self.root, key, tracing, names, start, count
            )
        except FileNotFoundError:  # trimmed from the cache meanwhile: decode it again
            key, tracing = await self.tracing(recording)
            return await asyncio.to_thread(
                w.read_window, self.root, key, tracing, names, start, count
            )

    async def overview(self, recording: EcgRecording) -> dict[str, Any]:
        """The overview JSON (rate trend, episodes, AF burden), computed in the executor."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, overview, recording.analysis or {}, recording.duration_s
        )
