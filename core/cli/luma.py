"""The Luma account from the command line: `login`, `logout`, `doctor`, and `still` concept frames.

``doctor`` says in plain words what stands between the artist and a take: first what runs on
this machine (doctor.py: colour, image and video libraries, data folder, ledger, disk, the
offline renderer, the host installs), then, when there is a key, Luma: a key the service
refuses, a base URL that does not answer, a certificate that is not trusted.
"""
from __future__ import annotations

import argparse
import getpass
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

from ..backends.luma import credentials as C
from ..backends.base import BackendError
from ..backends.luma.client import LumaClient, LumaError, SendFailure
from ..backends.luma.settings import BASE_URL_ENV, LumaSettings
from .output import emit

IMAGE_MODELS = ("uni-1", "uni-1-max")
IMAGE_ASPECTS = ("16:9", "3:2", "1:1", "2:3", "9:16", "2:1", "1:2", "3:1", "1:3")
MAX_IMAGE_REFS = 9


def register(command) -> None:
    p = command("login", cmd_login, "store a Luma API key in the OS keyring (checked first)")
    p.add_argument("--no-check", action="store_true",
                   help="store it without asking Luma whether it works (no network)")

    command("logout", cmd_logout, "forget the Luma API key stored in the OS keyring")

    command("doctor", cmd_doctor, "check what runs here (colour, codecs, data, disk, the offline "
                                  "renderer, host installs), then the Luma key and connection")

    p = command("still", cmd_still, "a uni-1 concept image from a prompt, saved as PNG or JPEG")
    p.add_argument("prompt", help="what the image shows")
    p.add_argument("--model", choices=IMAGE_MODELS, default="uni-1",
                   help="the image model (default uni-1)")
    p.add_argument("--aspect", choices=IMAGE_ASPECTS, default="16:9",
                   help="the image's aspect ratio (default 16:9)")
    p.add_argument("--format", choices=("png", "jpeg"), default="png",
                   help="the file saved (default png)")
    p.add_argument("--ref", metavar="IMAGE", action="append", default=[],
                   help=f"a reference image for style or content (repeatable, up to {MAX_IMAGE_REFS})")
    p.add_argument("-o", "--out", help="file or folder to save into (default: the current folder)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (default 600)")


def _client(key: str) -> LumaClient:
    return LumaClient(key, LumaSettings.from_env(retries=1, backoff=0.5, backoff_max=1.0))


# -- login / logout ---------------------------------------------------------------------------

def _read_key() -> str:
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass("Luma API key (input hidden): ")
    return sys.stdin.readline() if sys.stdin is not None else ""


def cmd_login(args: argparse.Namespace) -> int:
    key = C.check_key_format(_read_key())
    checked = False
    if not args.no_check:
        problem = _key_problem(_client(key))
        if problem:
            raise C.CredentialsError(f"not stored: {problem}")
        checked = True
    C.store_key(key)
    note = ""
    if C.KEY_ENV in os.environ:
        note = f" (note: {C.KEY_ENV} is set and takes precedence over the stored key)"
    emit(args, {"stored": True, "checked": checked, "where": "keyring"},
         lambda: f"key stored in the OS keyring{' after Luma accepted it' if checked else ''}{note}")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    forgot = C.forget_key()
    env = C.KEY_ENV in os.environ
    message = "forgot the stored key" if forgot else "no key was stored in the keyring"
    if env:
        message += f"; {C.KEY_ENV} is still set in this environment"
    emit(args, {"forgot": forgot, "environment_key": env}, lambda: message)
    return 0


def _key_problem(client: LumaClient) -> str:
    """'' when the key works; else what is wrong, in plain words."""
    try:
        client.json("GET", "files", what="checking the key", params={"limit": 1})
    except LumaError as exc:
        if exc.status == 401:
            return "Luma does not accept this key (401): check it was copied whole, or make a new one"
        if exc.status in (402, 403):
            return str(exc)
        if exc.status is None:
            return (f"cannot reach Luma at {client.base_url} to check the key: {exc} "
                    "(`genplate login --no-check` stores it unchecked)")
        return str(exc)
    return ""


# -- doctor -----------------------------------------------------------------------------------

def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import local_checks

    checks: list[dict] = []

    def check(name: str, ok, detail: str, *, group: str = "here"):
        """ok: True, False, or None (nothing to check: not installed, no key)."""
        checks.append({"check": name, "ok": ok, "detail": detail, "group": group})
        return ok

    local_checks(check)
    _luma_checks(lambda name, ok, detail: check(name, ok, detail, group="luma"))
    ok = all(c["ok"] is not False for c in checks)
    emit(args, {"ok": ok, "checks": checks}, lambda: _describe_doctor(checks, ok))
    return 0 if ok else 1


def _describe_doctor(checks: list[dict], ok: bool) -> str:
    mark = {True: "ok  ", False: "FAIL", None: "--  "}
    titles = {"here": "on this machine", "hosts": "hosts", "luma": "Luma"}
    lines: list[str] = []
    for group, title in titles.items():
        rows = [c for c in checks if c["group"] == group]
        if rows:
            lines.append(title)
            lines += [f"  {mark[c['ok']]}  {c['check']}: {c['detail']}" for c in rows]
    luma = [c for c in checks if c["group"] == "luma"]
    if not ok:
        lines.append("fix the FAIL lines above; each says what to change")
    elif all(c["ok"] for c in luma):
        lines.append("ready: takes from Luma (and the offline renderer) work here")
    else:
        lines.append("ready for the offline renderer; Luma needs a key (see above)")
    return "\n".join(lines)


def _luma_checks(check) -> None:
    key, source = C.api_key()
    where = {"environment": f"from {C.KEY_ENV}", "keyring": "from the OS keyring (genplate login)"}
    if not key:
        keyring_note = " (the keyring is switched off: GENPLATE_NO_KEYRING)" if C.keyring_disabled() else ""
        # No key is not a fault: the offline renderer works without one. Nothing is sent.
        check("key", None, f"no API key, so Luma is not checked: set {C.KEY_ENV} or run "
                           f"`genplate login` to generate with Ray3{keyring_note}")
        return
    try:
        C.check_key_format(key)
        check("key", True, where[source])
    except C.CredentialsError as exc:
        check("key", False, f"{where[source]}, but {exc}")
    try:
        settings = LumaSettings.from_env()
        check("base URL", True, settings.base_url + ("" if os.environ.get(BASE_URL_ENV)
                                                     else " (default)"))
    except BackendError as exc:  # LumaSettingsError: names the variable and what it needs
        check("base URL", False, str(exc))
        settings = None
    if settings is not None:
        client = LumaClient(key, LumaSettings.from_env(retries=0))
        reachable, status, answer = _probe(client)
        check("connection", reachable, answer if not reachable else f"{client.base_url} answers")
        if reachable:
            if status == 200:
                check("key accepted", True, "an authenticated request succeeded")
            elif status == 401:
                check("key accepted", False, "Luma refuses this key (401): run `genplate login` "
                                             f"with a valid key, or fix {C.KEY_ENV}")
            elif status == 402:
                check("key accepted", False, "the key works but the balance is insufficient (402)")
            elif status == 403:
                check("key accepted", False, "the key works but the account is suspended or "
                                             "not allowed (403)")
            else:
                check("key accepted", False, f"unexpected answer {status}: {answer}")


def _probe(client: LumaClient) -> tuple[bool, int, str]:
    """(reachable, status, words): one cheap authenticated GET, no retries."""
    try:
        response = client.send_once("GET", "files", what="reaching Luma", request_id=f"doctor:{uuid.uuid4().hex[:8]}",
                                    params={"limit": 1})
    except SendFailure as failure:
        return False, 0, f"{client.base_url}: {failure}"
    from ..backends.luma.client import detail_of

    return True, response.status_code, detail_of(response)


# -- still ------------------------------------------------------------------------------------

def cmd_still(args: argparse.Namespace) -> int:
    from ..backends.luma.backend import LumaBackend
    from ..delivery.fetch import fetch_outputs
    from ..jobs.ledger import Ledger
    from ..backends.luma.files import MediaResolver
    from ..request import MediaRef

    prompt = (args.prompt or "").strip()
    if not 1 <= len(prompt) <= 6000:
        raise LumaError("the prompt must be 1 to 6000 characters")
    if len(args.ref) > MAX_IMAGE_REFS:
        raise LumaError(f"at most {MAX_IMAGE_REFS} --ref images (got {len(args.ref)})")
    for ref in args.ref:
        if not Path(ref).is_file():
            raise LumaError(f"--ref {ref}: no such file")
    out = Path(args.out).expanduser() if args.out else Path.cwd()
    ledger = Ledger()
    backend = LumaBackend(ledger)
    tag = "still-" + uuid.uuid4().hex[:12]
    payload = {"prompt": prompt, "model": args.model, "type": "image", "aspect_ratio": args.aspect,
               "output_format": args.format}
    if args.ref:
        resolver = MediaResolver(backend.client, ledger, tag=tag)
        payload["image_ref"] = [resolver(MediaRef(path=str(Path(r).resolve()))) for r in args.ref]
    remote_id = backend.send_create(payload, job_id=tag, what="creating the image", record=False)
    print(f"genplate: image {remote_id} requested ({args.model}, {args.aspect})", file=sys.stderr)
    deadline = time.monotonic() + args.timeout
    interval = backend.poll_interval
    while True:
        generation = backend.get(remote_id)
        if generation.state == "completed":
            break
        if generation.state == "failed":
            raise LumaError(f"Luma failed the image ({generation.failure_code or 'unknown'}): "
                            f"{generation.failure_reason or 'no reason given'}")
        if time.monotonic() > deadline:
            raise LumaError(f"image {remote_id} still {generation.state} after {args.timeout:.0f} s")
        time.sleep(interval)
        interval = min(interval * 1.5, backend.max_poll_interval)
    target_dir = out.parent if out.suffix else out
    target_dir.mkdir(parents=True, exist_ok=True)
    staging = target_dir / f".{tag}"
    files = fetch_outputs(staging, generation.outputs, refresh=lambda: backend.get(remote_id).outputs)
    images = [f for f in files if f.kind in ("png", "jpeg")]
    if not images:
        raise LumaError(f"image {remote_id}: Luma delivered no PNG or JPEG")
    saved = []
    for i, image in enumerate(images):
        ext = ".png" if image.kind == "png" else ".jpg"
        if out.suffix and len(images) == 1:
            fits = out.suffix.lower() in ((".png",) if image.kind == "png" else (".jpg", ".jpeg"))
            final = out if fits else out.with_suffix(ext)
        else:
            from ..takes.layout import slug

            final = target_dir / f"{slug(prompt)}_{remote_id[:8]}{'_' + str(i) if i else ''}{ext}"
        image.path.replace(final)  # same folder: an atomic rename, never a half-written image
        saved.append(str(final.resolve()))
    shutil.rmtree(staging, ignore_errors=True)
    emit(args, {"path": saved[0], "paths": saved, "remote_id": remote_id, "model": args.model},
         lambda: "\n".join(f"saved {p}" for p in saved))
    return 0


__all__ = ["register"]
