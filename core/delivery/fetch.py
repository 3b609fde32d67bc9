"""Turning a generation's output URLs into verified files on disk.

A generation was paid for; its outputs live behind presigned URLs that expire after an hour.
So a download must survive what networks and object stores do: dropped connections, 5xx,
truncated bodies (resumed with ``Range``), an expired URL (a fresh one comes from a new GET of
the generation, via ``refresh``), a server that ignores ``Range``. A file appears under its
final name only once it is complete and verified (length, and its kind by magic bytes), so a
crash or a cancel leaves at most ``.part`` files, which the next call resumes.

Names never come from the URL or the output's type string: output ``i`` becomes
``output-<i>.<ext>`` with the extension of the kind its bytes show. A ZIP is unpacked into
``output-<i>/`` and its files take its place in the result; the ZIP itself stays (it was paid
for). A small hidden record per output (``.output-<i>.json``) keeps sizes and hashes, so a
second call re-verifies what is on disk without touching the network.

Nothing the service sends is trusted (limits.py): only https URLs are fetched (file URLs only
inside the offline backend's own store, plain http only from a local emulator), every byte
counts against the delivery's budget whether or not a length was announced, the whole fetch has
a deadline and the body a minimum pace, and a resumed range must come from the same file
(resume.py). Breaking a limit raises ``FetchError`` naming it: the job stays resumable.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import random
import re
import shutil
import time
from pathlib import Path
from typing import Callable, Optional, Sequence
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import requests
import urllib3

from ..digest import file_sha256
from ..progress import CancelToken, ProgressFn, no_progress
from ..secrets import install_filter, redact, redact_url
from .limits import (DEADLINE_ENV, MIN_RATE_ENV, SCALE_ENV, WINDOW_ENV, Budget, FetchError,
                     Pace, Speed, budget_for_files, pace_from_env, plain_http_allowed,
                     size_text, url_problem)
from .resume import (SNIFF, Partial, content_length, content_range, contradicts, if_range,
                     peek_text, retry_after, same_file, validator_of)
from .records import FetchedFile, discard_outputs, existing, read_record, write_record
from .unpack import EXTENSIONS, ArchiveTooLarge, extract_zip, kind_of_bytes, sniff_kind

log = install_filter(logging.getLogger(__name__))

DEFAULT_TIMEOUT = (10.0, 60.0)  # (connect, read) seconds; a read timeout is per chunk, not per file
CHUNK = 1 << 20
MAX_REDIRECTS = 5
# How object stores word an expired signature in a 400/410 body ("Request has expired",
# "ExpiredToken", "Signature expired", "URL has expired").
_EXPIRY = re.compile(r"expir", re.IGNORECASE)


class _Retry(Exception):
    """A failure that waiting and asking again can fix (network, 5xx, a short body)."""

    def __init__(self, reason: str, *, progressed: bool = False,
                 retry_after: Optional[float] = None) -> None:
        super().__init__(reason)
        self.reason, self.progressed, self.retry_after = reason, progressed, retry_after


class _Expired(Exception):
    """The URL no longer works; a fresh one from the generation will."""


def fetch_outputs(dest_dir: os.PathLike | str, outputs: Sequence, *,
                  refresh: Optional[Callable[[], Sequence]] = None,
                  progress: ProgressFn = no_progress,
                  cancel: Optional[CancelToken] = None,
                  timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
                  attempts: int = 6, refreshes: int = 3,
                  backoff: float = 1.0, max_backoff: float = 30.0,
                  chunk_size: int = CHUNK,
                  budget: Optional[Budget] = None, pace: Optional[Pace] = None,
                  plain_http: Optional[bool] = None,
                  local_root: Optional[os.PathLike | str] = None) -> list["FetchedFile"]:
    """Download every output into ``dest_dir``; the delivered files, ZIPs replaced by their files.

    ``outputs`` are the generation's outputs (``.type``, ``.url``, optional ``.layer``);
    ``refresh()`` returns them again with fresh URLs. ``attempts`` bounds consecutive failed
    tries of one output that made no progress; ``refreshes`` bounds fresh URLs per output;
    ``backoff`` is the first retry's wait (doubling, jittered, at most ``max_backoff``).
    ``budget`` bounds the bytes of all outputs together and any ZIP's contents (default: the
    bound for footage of unknown size); ``pace`` the whole fetch's time and the body's slowest
    rate (default: the GENPLATE_FETCH_* settings). ``plain_http`` allows http URLs of this
    machine (default: while LUMA_BASE_URL is one); ``local_root`` allows file URLs inside it.
    """
    outputs = list(outputs)
    if not outputs:
        raise FetchError("the generation delivered no outputs: nothing to download")
    fetcher = _Fetcher(Path(dest_dir).absolute(), outputs, refresh=refresh, progress=progress,
                       cancel=cancel or CancelToken(), timeout=timeout, attempts=attempts,
                       refreshes=refreshes, backoff=backoff, max_backoff=max_backoff,
                       chunk_size=chunk_size, budget=budget or budget_for_files(),
                       pace=pace or pace_from_env(),
                       plain_http=plain_http_allowed() if plain_http is None else plain_http,
                       local_root=Path(local_root) if local_root is not None else None)
    try:
        return fetcher.run()
    except OSError as exc:  # the disk, not the network: full, read-only, a path gone
        raise FetchError(f"cannot write the delivery in {dest_dir}: {redact(str(exc))}") from None
    finally:
        fetcher.close()


class _Fetcher:
    def __init__(self, dest: Path, outputs: list, *, refresh, progress: ProgressFn,
                 cancel: CancelToken, timeout, attempts: int, refreshes: int, backoff: float,
                 max_backoff: float, chunk_size: int, budget: Budget, pace: Pace,
                 plain_http: bool, local_root: Optional[Path]) -> None:
        self.dest, self.outputs, self.refresh = dest, outputs, refresh
        self.progress, self.cancel = progress, cancel
        self.attempts, self.refreshes = max(1, attempts), max(0, refreshes)
        self.backoff, self.max_backoff = backoff, max_backoff
        self.chunk_size, self.budget, self.pace = chunk_size, budget, pace
        self.plain_http, self.local_root = plain_http, local_root
        # A read that waits longer than the pace's window is a stall: give up on it sooner.
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        self.timeout = (connect, min(read, pace.window))
        self.deadline_at = time.monotonic() + pace.deadline
        self.spent = 0  # bytes of the outputs already delivered: they count against the budget
        self._session = None

    def run(self) -> list[FetchedFile]:
        self.dest.mkdir(parents=True, exist_ok=True)
        result: list[FetchedFile] = []
        for index in range(len(self.outputs)):
            delivered = existing(self.dest, index, self.progress) or self._fetch(index)
            self.spent += delivered.bytes
            if delivered.kind == "zip":
                result.extend(self._unpack(index, delivered))
            else:
                result.append(delivered)
        return result

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- limits ------------------------------------------------------------------------------

    def _left(self) -> int:
        """Bytes the budget still allows for the output being fetched."""
        return max(0, self.budget.bytes - self.spent)

    def _over_budget(self, index: int, size: int, *, announced: bool) -> FetchError:
        how = "announces" if announced else "sent more than"
        return FetchError(
            f"output {index} {how} {size_text(size) if announced else size_text(self._left())}: "
            f"over the delivery budget ({size_text(self.budget.bytes)} for a "
            f"{self.budget.basis} delivery, {size_text(self._left())} left for this output); "
            f"the download was stopped and discarded. If the delivery is genuine, raise "
            f"{SCALE_ENV} and resume")

    def _check_deadline(self, index: int) -> None:
        if time.monotonic() > self.deadline_at:
            raise FetchError(
                f"output {index}: the download took longer than its deadline of "
                f"{self.pace.deadline:g} s ({DEADLINE_ENV}); stopped, what arrived is kept "
                f"and `genplate resume` continues it")

    def _check_url(self, index: int) -> str:
        url = getattr(self.outputs[index], "url", None)
        if not isinstance(url, str) or not url:
            raise FetchError(f"output {index} (type {getattr(self.outputs[index], 'type', '?')!r}) "
                             f"has no URL to download")
        problem = url_problem(url, plain_http=self.plain_http, local_root=self.local_root)
        if problem is not None:
            raise FetchError(f"output {index}: refused to fetch {redact_url(url)}: {problem}; "
                             f"nothing was read from it")
        return url

    # -- downloading -------------------------------------------------------------------------

    def _fetch(self, index: int) -> FetchedFile:
        part = self.dest / f"output-{index}.part"
        url = self._check_url(index)
        if urlsplit(url).scheme.lower() == "file":
            size, sha = self._copy(index, part)
        else:
            size, sha = self._download(index, part)
        kind = sniff_kind(part)
        if kind == "unknown":
            # The type string is not trusted either way; ingest decides what it can read.
            log.warning("output %d (type %r) is not MP4, EXR, ZIP, PNG or JPEG by its first "
                        "bytes; kept as output-%d.bin", index, self.outputs[index].type, index)
        final = self.dest / f"output-{index}.{EXTENSIONS[kind]}"
        os.replace(part, final)
        # The URL's last path segment is kept as provenance only (e.g. a frame number the
        # service put there); it never names a file here. The query, a signature, is dropped.
        source_name = urlsplit(self.outputs[index].url).path.rsplit("/", 1)[-1][:200]
        write_record(self.dest, index, {"name": final.name, "kind": kind, "bytes": size,
                                   "sha256": sha, "type": str(self.outputs[index].type),
                                   "source_name": source_name})
        return FetchedFile(final, kind, size, sha)

    def _copy(self, index: int, part: Path) -> tuple[int, str]:
        """A file:// output inside the offline backend's store: a streamed copy, from the start."""
        source = Path(url2pathname(urlsplit(self.outputs[index].url).path))
        try:
            total = source.stat().st_size
            if not source.is_file():
                raise FetchError(f"output {index}: {source} is not a file")
            if total > self._left():
                raise self._over_budget(index, total, announced=True)
            self._check_space(total, index)
            hasher, done, label = hashlib.sha256(), 0, f"output-{index}"
            with open(source, "rb") as src, open(part, "wb") as out:
                while True:
                    self.cancel.check()
                    chunk = src.read(self.chunk_size)
                    if not chunk:
                        break
                    if done == 0:
                        label = f"output-{index}.{EXTENSIONS[kind_of_bytes(chunk[:SNIFF])]}"
                    out.write(chunk)
                    hasher.update(chunk)
                    done += len(chunk)
                    self.progress(done, total, label)
        except FileNotFoundError:
            raise FetchError(f"output {index}: {source} does not exist") from None
        if done != total:
            raise FetchError(f"output {index}: {source} changed while it was copied "
                             f"({done} of {total} bytes)")
        if done == 0:
            raise FetchError(f"output {index}: {source} is empty")
        return done, hasher.hexdigest()

    def _download(self, index: int, part_path: Path) -> tuple[int, str]:
        """An http(s) output: streamed to its ``.part``, resumed, retried, refreshed."""
        part = Partial(part_path)
        failures = tries = refreshed = 0
        while True:
            self.cancel.check()
            self._check_deadline(index)
            part.sync()
            tries += 1
            try:
                self._attempt(index, part)
                if part.size == 0:
                    raise FetchError(f"output {index}: "
                                     f"{redact_url(self.outputs[index].url)} is empty")
                part.finished()
                return part.size, part.hexdigest()
            except _Retry as retry:
                failures = 1 if retry.progressed else failures + 1
                if failures >= self.attempts or tries >= self.attempts * 50:
                    raise FetchError(f"output {index}: {retry.reason} ({tries} tries) from "
                                     f"{redact_url(self.outputs[index].url)}") from None
                log.warning("output %d: %s; retrying", index, retry.reason)
                self._wait(failures - 1, retry.retry_after)
            except _Expired as expired:
                if self.refresh is None:
                    raise FetchError(f"output {index}: {expired}, and nothing can ask the "
                                     f"service for a fresh URL") from None
                if refreshed >= self.refreshes:
                    raise FetchError(f"output {index}: {expired}, still after {refreshed} "
                                     f"fresh URL(s) from the service") from None
                log.info("output %d: %s; asking the service for fresh URLs", index, expired)
                try:
                    self._refresh(index)
                except FetchError:
                    raise
                except Exception as exc:
                    # The service itself may be briefly unreachable; a backend says so with
                    # ``retryable`` (BackendError). Anything else is its own, final answer.
                    if not getattr(exc, "retryable", False):
                        raise
                    failures += 1
                    if failures >= self.attempts:
                        raise FetchError(f"output {index}: {expired}, and asking the service "
                                         f"for fresh URLs failed: {redact(str(exc))}") from None
                    log.warning("output %d: fresh URLs not available yet (%s); retrying",
                                index, exc)
                    self._wait(failures - 1, None)
                    continue
                refreshed += 1

    def _attempt(self, index: int, part: Partial) -> None:
        """One GET that leaves ``part`` complete, or raises _Retry / _Expired / FetchError."""
        url = self._check_url(index)  # a refresh may have brought other URLs
        headers = {"Accept-Encoding": "identity"}  # the bytes as stored: lengths must match
        if part.size and part.validator is None:
            # Nothing proves the rest would come from the same file: never splice blindly.
            log.info("output %d: no ETag or Last-Modified was recorded with the first %d "
                     "bytes; downloading from the start", index, part.size)
            part.truncate()
        if part.size:
            headers["Range"] = f"bytes={part.size}-"
            headers["If-Range"] = if_range(part.validator)
        response = self._get(index, url, headers)
        with response:
            status = response.status_code
            if status in (200, 206):
                return self._stream(index, response, part)
            if status == 416:
                return self._unsatisfiable(response, part)
            if status == 403:
                raise _Expired(f"access refused (HTTP 403; the presigned URL has probably "
                               f"expired) for {redact_url(url)}")
            body = peek_text(response)
            if status in (400, 410) and _EXPIRY.search(body):
                raise _Expired(f"the URL has expired (HTTP {status}) for {redact_url(url)}")
            if status == 429 or status >= 500:
                raise _Retry(f"HTTP {status}", retry_after=retry_after(response))
            detail = redact(" ".join(body[:200].split()))
            raise FetchError(f"output {index}: HTTP {status} from {redact_url(url)}"
                             + (f": {detail}" if detail else ""))

    def _get(self, index: int, url: str, headers: dict):
        """The GET's response, redirects followed only to URLs an output may have itself
        (a storage service may redirect; to a file or plain http it must not lead)."""
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = self._get_session().get(url, headers=headers, stream=True,
                                                   timeout=self.timeout, verify=True,
                                                   allow_redirects=False)
            except requests.exceptions.SSLError as exc:
                raise FetchError(f"output {index}: TLS verification failed for "
                                 f"{redact_url(url)}: {redact(str(exc))}") from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                raise _Retry(f"cannot connect ({type(exc).__name__})") from None
            except requests.exceptions.RequestException as exc:
                raise FetchError(f"output {index}: cannot request {redact_url(url)}: "
                                 f"{redact(str(exc))}") from None
            location = response.headers.get("Location")
            if not (response.is_redirect and location):
                return response
            response.close()
            target = urljoin(url, location)
            problem = url_problem(target, plain_http=self.plain_http, local_root=None)
            if problem is not None:
                raise FetchError(f"output {index}: {redact_url(url)} redirects to "
                                 f"{redact_url(target)}, {problem}; nothing was read from it")
            url = target
        raise FetchError(f"output {index}: more than {MAX_REDIRECTS} redirects from "
                         f"{redact_url(url)}")

    def _stream(self, index: int, response, part: Partial) -> None:
        """Append the response body to ``part`` and check it ends where the server said."""
        have = part.size
        if response.status_code == 206:
            start, total = content_range(response.headers.get("Content-Range"))
            if start != have:
                # Not the bytes we asked for: start again from nothing rather than splice.
                part.truncate()
                raise _Retry(f"the server answered a different range ({start} instead of "
                             f"{have}); starting again")
            if not same_file(part.validator, response.headers):
                # A server that ignores If-Range sends the rest of whatever it holds now.
                part.truncate()
                raise _Retry("the file changed on the server since its first bytes came (its "
                             "ETag / Last-Modified differs); starting again from zero")
            if part.expected is not None and total is not None and total != part.expected:
                part.truncate()
                part.expected = total
                raise _Retry("the file's size changed between requests; starting again")
        else:
            if have:
                log.info("output %d: the server sent the whole file for a resume (ignored "
                         "Range, or the file changed); downloading from the start", index)
                part.truncate()
                have = 0
            total = content_length(response)
            part.remember(validator_of(response.headers))
        if total is not None:
            part.expected = total
            if total > self._left():
                part.discard()
                raise self._over_budget(index, total, announced=True)
            self._check_space(total - have, index)
        speed = Speed(self.pace)
        refused = None  # what the body broke; acted on once the .part is closed
        with part.append() as write:
            while refused is None:
                self.cancel.check()
                try:
                    # read1: whatever has arrived (up to a chunk), so a dripping body is
                    # measured as it drips instead of filling a chunk for hours.
                    chunk = response.raw.read1(self.chunk_size, decode_content=False)
                except _NETWORK_ERRORS as exc:
                    raise _Retry(f"the connection broke after {part.size} bytes "
                                 f"({type(exc).__name__})", progressed=part.size > have) from None
                if not chunk:
                    break
                if total is not None and part.size + len(chunk) > total:
                    refused = "overflow"
                elif part.size + len(chunk) > self._left():  # no length announced: still bounded
                    refused = "budget"
                else:
                    write(chunk)
                    self.progress(part.size, total or 0, part.label(index))
                    self._check_deadline(index)
                    slow = speed.observe(part.size - have)
                    if slow is not None:
                        raise FetchError(
                            f"output {index}: the server sent {slow:.0f} bytes/s over the last "
                            f"{self.pace.window:g} s, under the minimum of "
                            f"{self.pace.min_rate:.0f} bytes/s ({MIN_RATE_ENV}, {WINDOW_ENV}); "
                            f"stopped, what arrived is kept and `genplate resume` continues it")
        if refused == "overflow":
            part.truncate()
            raise _Retry(f"the server sent more than the {total} bytes it announced")
        if refused == "budget":
            part.discard()
            raise self._over_budget(index, part.size + len(chunk), announced=False)
        if total is not None and part.size < total:
            raise _Retry(f"the download stopped at {part.size} of {total} bytes",
                         progressed=part.size > have)
        self.progress(part.size, part.size, part.label(index))

    def _unsatisfiable(self, response, part: Partial) -> None:
        """HTTP 416: the ``.part`` may already hold the whole file (a crash before the rename)."""
        _, total = content_range(response.headers.get("Content-Range"), allow_star=True)
        total = total if total is not None else part.expected
        if total is not None and part.size == total \
                and not contradicts(part.validator, response.headers):
            return
        have = part.size
        part.truncate()
        raise _Retry(f"the server refused the resume at byte {have}"
                     f"{f' of {total}' if total is not None else ''}; starting again")

    def _refresh(self, index: int) -> None:
        """Fresh URLs for every output (they all expire together), matched by index and type."""
        fresh = list(self.refresh())
        old = self.outputs
        matched = _match_outputs(old, fresh)
        if matched[index] is None:
            raise FetchError(f"output {index} (type {old[index].type!r}) is no longer among "
                             f"the generation's outputs after asking for fresh URLs")
        self.outputs = [m if m is not None else o for o, m in zip(old, matched)]

    def _wait(self, retry: int, retry_after: Optional[float]) -> None:
        delay = random.uniform(0, min(self.max_backoff, self.backoff * (2 ** retry)))
        if retry_after is not None:
            delay = max(delay, retry_after)
        delay = min(delay, self.max_backoff, max(0.0, self.deadline_at - time.monotonic()))
        if self.cancel.wait(delay):
            self.cancel.check()

    def _check_space(self, needed: int, index: int) -> None:
        try:
            free = shutil.disk_usage(self.dest).free
        except OSError:
            return
        if needed > free:
            raise FetchError(f"output {index}: not enough disk space in {self.dest}: needs "
                             f"{needed / 1e9:.2f} GB more, {free / 1e9:.2f} GB free")

    def _get_session(self):
        if self._session is None:
            # A session of its own, never the API client's: presigned URLs must not receive
            # the API key, and the object store would refuse a second credential anyway.
            self._session = requests.Session()
        return self._session

    # -- ZIP deliveries --------------------------------------------------------------------

    def _unpack(self, index: int, archive: FetchedFile) -> list[FetchedFile]:
        folder = self.dest / archive.path.stem
        try:
            paths = extract_zip(archive.path, folder, budget=self.budget,
                                progress=self.progress, cancel=self.cancel)
        except ArchiveTooLarge as exc:
            # Our bound, not the archive's fault alone: keep the job resumable, say which.
            raise FetchError(f"output {index}: {exc}") from None
        record = read_record(self.dest, index)
        known = {item.get("name"): item for item in record.get("files", [])
                 if isinstance(item, dict)}
        files, changed = [], False
        for path in paths:
            name = path.relative_to(self.dest).as_posix()
            size, kind = path.stat().st_size, sniff_kind(path)
            item = known.get(name)
            if item and item.get("bytes") == size and item.get("kind") == kind and item.get("sha256"):
                sha = item["sha256"]
            else:
                self.cancel.check()
                sha, changed = file_sha256(path), True
            files.append(FetchedFile(path, kind, size, sha))
        if changed or len(known) != len(files):
            record["files"] = [{"name": f.path.relative_to(self.dest).as_posix(), "kind": f.kind,
                                "bytes": f.bytes, "sha256": f.sha256} for f in files]
            write_record(self.dest, index, record)
        return files


# -- helpers ---------------------------------------------------------------------------------

# What a broken body looks like while streaming (urllib3 raises its own errors from raw.stream).
_NETWORK_ERRORS = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError,
                   http.client.HTTPException, ConnectionError, TimeoutError)


def _match_outputs(old: list, fresh: list) -> list:
    """For each old output, its counterpart among ``fresh`` (same index and type, else the
    same occurrence of its type and layer), or None."""
    def key(o):
        return (getattr(o, "type", None), getattr(o, "layer", None))

    if len(old) == len(fresh) and all(key(a) == key(b) for a, b in zip(old, fresh)):
        return list(fresh)
    pools: dict = {}
    for candidate in fresh:
        pools.setdefault(key(candidate), []).append(candidate)
    used: dict = {}
    matched = []
    for output in old:
        k = key(output)
        n = used.get(k, 0)
        pool = pools.get(k, [])
        matched.append(pool[n] if n < len(pool) else None)
        used[k] = n + 1
    return matched


__all__ = ["FetchedFile", "FetchError", "fetch_outputs", "discard_outputs", "DEFAULT_TIMEOUT"]
