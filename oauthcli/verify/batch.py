"""``oauthcli verify --batch``: one token per line in, one JSON verdict per line out, in order.

Keys are loaded once. Inputs longer than ``PARALLEL_THRESHOLD`` lines are cut
into chunks verified by worker processes (forked, so they share the loaded
keys without pickling them); results are written in input order. Where ``fork``
is unavailable, or for short inputs, one process does it all.

Blank lines are skipped (no verdict; ``"line"`` still counts them).

Exit status: 0 when every token is valid; otherwise 4 when any token failed a
non-time check, else 5 (every failure was expired / not yet valid / too old).
"""

from __future__ import annotations

import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from oauthcli.errors import Reason, TokenError, TokenTimeError
from oauthcli.verify import verdict
from oauthcli.verify.verifier import TIME_REASONS, Verifier

PARALLEL_THRESHOLD = 5000
CHUNK_LINES = 2000

_WORKER: Verifier | None = None


@dataclass
class BatchSummary:
    total: int = 0
    valid: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)  # Verifier.usage_warnings, deduplicated

    def add(self, other: BatchSummary) -> None:
        self.total += other.total
        self.valid += other.valid
        self.failures.update(other.failures)
        self.warnings.extend(w for w in other.warnings if w not in self.warnings)

    def error(self) -> TokenError | None:
        """The error that ends the command (exit 4 or 5), or None when all tokens are valid."""
        invalid = self.total - self.valid
        if not invalid:
            return None
        reasons = ", ".join(f"{n} {reason}" for reason, n in self.failures.most_common())
        message = f"{invalid} of {self.total} tokens failed verification ({reasons})"
        if set(self.failures) <= TIME_REASONS:
            return TokenTimeError(message, Reason.BATCH)
        return TokenError(message, Reason.BATCH)


def _verify_lines(verifier: Verifier, lines: list[str], first: int) -> tuple[str, BatchSummary]:
    """JSON Lines verdicts, the JSON text of repeated headers encoded only once."""
    summary = BatchSummary()
    failures = summary.failures
    out = []
    parse, check = verifier.parse, verifier.check
    header_json: dict[int, tuple[dict[str, Any], str]] = {}

    def encode_header(header: dict[str, Any]) -> str:
        cached = header_json.get(id(header))
        if cached is None:
            # the dict itself is kept alive with its text, so its id is never reused
            cached = (header, verdict.dumps(header))
            if len(header_json) < 256:
                header_json[id(header)] = cached
        return cached[1]

    blank = 0
    for number, line in enumerate(lines, first):
        if not line or line.isspace():
            blank += 1  # a blank line is not a token: no verdict, line numbers kept
            continue
        parsed = None
        try:
            parsed = parse(line)
            result = check(parsed)
        except TokenError as exc:
            failures[exc.reason] += 1
            found = verdict.of_error(exc, parsed, verifier.now())
        else:
            found = verdict.of_result(result)
        out.append(verdict.json_line(found, number, encode_header))
    summary.total = len(lines) - blank
    summary.valid = summary.total - sum(failures.values())
    summary.warnings = verifier.usage_warnings()
    if out:
        out.append("")
    return "\n".join(out), summary


def _worker_chunk(lines: list[str], first: int) -> tuple[str, BatchSummary]:
    assert _WORKER is not None
    return _verify_lines(_WORKER, lines, first)


def worker_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _chunks(lines: Iterator[str], first: int) -> Iterator[tuple[list[str], int]]:
    while True:
        chunk = list(islice(lines, CHUNK_LINES))
        if not chunk:
            return
        yield chunk, first
        first += len(chunk)


def run_batch(
    verifier: Verifier,
    lines: Iterable[str],
    write: Callable[[str], object],
    *,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
    parallel_threshold: int = PARALLEL_THRESHOLD,
) -> BatchSummary:
    """Verify each line (trailing newline ignored) and ``write`` JSON Lines verdicts in order."""
    stripped = (line.rstrip("\r\n") for line in lines)
    head = list(islice(stripped, parallel_threshold + 1))
    workers = worker_count() if workers is None else workers
    summary = BatchSummary()
    if len(head) <= parallel_threshold or workers < 2 or not _can_fork():
        source = iter(head) if len(head) <= parallel_threshold else _chain(head, stripped)
        for chunk, first in _chunks(source, 1):
            text, part = _verify_lines(verifier, chunk, first)
            write(text)
            summary.add(part)
            if progress:
                progress(part.total)
        return summary
    for text, part in _parallel(verifier, _chunks(_chain(head, stripped), 1), workers):
        write(text)
        summary.add(part)
        if progress:
            progress(part.total)
    return summary


def _chain(head: list[str], rest: Iterator[str]) -> Iterator[str]:
    yield from head
    yield from rest


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _parallel(
    verifier: Verifier, chunks: Iterator[tuple[list[str], int]], workers: int
) -> Iterator[tuple[str, BatchSummary]]:
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    global _WORKER
    verifier.keys()  # fetch a remote JWKS once, before the workers are forked
    _WORKER = verifier
    pending: deque[Future[tuple[str, BatchSummary]]] = deque()
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            for chunk, first in chunks:
                pending.append(pool.submit(_worker_chunk, chunk, first))
                if len(pending) >= workers * 3:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
    finally:
        _WORKER = None
        for future in pending:
            future.cancel()
