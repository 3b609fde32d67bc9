"""Command-line options for a shot request and for where its take is published.

Shared by ``generate``, ``submit``, ``drafts`` and ``promote``, so every request field has one
option with one meaning everywhere.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..jobs.runner import kind_for
from ..takes.record import PublishSpec
from ..request import (ASPECT_RATIOS, DURATIONS, EDIT_CONTROLS, EDIT_STRENGTHS, RESOLUTIONS,
                       VIDEO_TYPES, EditOptions, Keyframe, MediaRef, ReframeRect, RequestError,
                       ShotRequest)

ROOT_ENV = "GENPLATE_ROOT"
DEFAULT_SHOT = "sh010"
ROOT_HELP = f"where takes are published (default ${ROOT_ENV}, else ./takes)"
BACKEND_HELP = "default: luma when an API key is set, else offline (free test footage)"


def add_request_options(p: argparse.ArgumentParser, *, prompt: bool = True) -> None:
    if prompt:
        p.add_argument("prompt", help="what the shot shows (1-6000 characters)")
    g = p.add_argument_group("shot request (Ray 3.2)")
    quality = g.add_mutually_exclusive_group()
    quality.add_argument("--draft", action="store_true",
                         help="a cheap, fast draft: 360p SDR (the default without --resolution)")
    quality.add_argument("--master", action="store_true",
                         help="a master: 1080p HDR with EXR (use --resolution 720p for 720p)")
    g.add_argument("--type", choices=VIDEO_TYPES, default="video",
                   help="video: from the prompt and images (default); video_edit: restyle "
                        "--source; video_reframe: --source in a new aspect ratio")
    g.add_argument("--aspect", choices=ASPECT_RATIOS, default="16:9",
                   help="the frame's aspect ratio (default 16:9)")
    g.add_argument("--resolution", choices=RESOLUTIONS,
                   help="360p/540p SDR, 720p/1080p (HDR possible); default 360p, 1080p with "
                        "--master, 720p with --hdr alone")
    g.add_argument("--duration", choices=DURATIONS, default="5s",
                   help="the shot's length (default 5s)")
    g.add_argument("--hdr", action="store_true", help="HDR (720p/1080p only)")
    g.add_argument("--exr", action="store_true", help="EXR export beside the MP4 (needs --hdr)")
    g.add_argument("--loop", action="store_true",
                   help="a shot whose last frame leads back into its first")
    g.add_argument("--start-frame", metavar="IMAGE", help="image the shot starts on")
    g.add_argument("--end-frame", metavar="IMAGE", help="image the shot ends on")
    g.add_argument("--keyframe", metavar="INDEX=IMAGE", action="append", default=[],
                   help="guide image at a frame index of the 24 fps grid (repeatable, 1-64)")
    g.add_argument("--extend-from", metavar="GENERATION_ID",
                   help="continue a previous generation (its remote id)")
    g.add_argument("--extend-backward", action="store_true",
                   help="with --extend-from: lead into it instead of continuing it")
    g.add_argument("--source", metavar="VIDEO", help="the plate for --type video_edit / video_reframe")
    g.add_argument("--strength", choices=EDIT_STRENGTHS, help="video_edit: how closely to follow the plate")
    g.add_argument("--control", choices=EDIT_CONTROLS, action="append", default=[],
                   help="video_edit: a signal that guides the edit (repeatable)")
    g.add_argument("--auto-controls", action="store_true", help="video_edit: let the model pick controls")
    g.add_argument("--reframe", metavar="X,Y,W,H",
                   help="video_reframe: where the plate sits in the new frame (normalised)")
    g.add_argument("--seed", type=int, help="the offline renderer's seed (Ray3 has none)")


def add_publish_options(p: argparse.ArgumentParser, *, parent: str = "") -> None:
    """The publish options; ``parent`` ("the draft's") when the shot, name and first frame
    default to those of the take a new one is made from (promote)."""
    g = p.add_argument_group("publishing")
    g.add_argument("--root", default=None, help=ROOT_HELP)
    g.add_argument("--shot", default=None if parent else DEFAULT_SHOT,
                   help=f"shot name (default {parent or DEFAULT_SHOT})")
    g.add_argument("--name", help=f"take name (default: {parent or 'from the prompt'})")
    g.add_argument("--first-frame", type=int, default=None if parent else 1001,
                   help=f"first frame number (default {parent or 1001})")
    g.add_argument("--sdr-mode", choices=("display-match", "texture"), default="display-match",
                   help="how SDR video becomes scene-linear (see README, Colour)")
    g.add_argument("--sdr-range", choices=("extend", "clip"), default="extend",
                   help="display-match SDR codes outside 16-235: extend beyond the view's "
                        "range, keeping their detail (default), or clip to it (README, Colour)")
    g.add_argument("--working-space", help="colour space takes are published in "
                                           "(default: the config's scene_linear role, ACEScg)")
    g.add_argument("--config", help="OCIO config path or ocio:// URI (default $OCIO, else the "
                                    "built-in ACES studio config)")
    g.add_argument("--compression", default="zip:1",
                   help="EXR compression (default zip:1, lossless; piz, zips, dwaa:45 ...)")
    g.add_argument("--hdr-mode", choices=("display-match", "texture"), default="display-match",
                   help="how PQ/HLG video becomes scene-linear: inverse HDR view (default) or "
                        "the inverse EOTF only (100 nits = 1.0)")
    g.add_argument("--source-tags", metavar="WORDS",
                   help='override what a delivered video says it is, e.g. "bt709 full srgb" '
                        '(default: the stream\'s own tags)')
    g.add_argument("--assume", metavar="WORDS",
                   help='what an untagged video is taken to be (default "bt709 limited bt1886")')
    g.add_argument("--pixel-type", choices=("half", "float"), default="half",
                   help="EXR pixel type (default half; float for display-match plates that go "
                        "back through the view, or deliveries beyond half's ±65504)")
    g.add_argument("--peak-nits", type=int, choices=(1000, 2000, 4000), default=None,
                   help="the HDR view inverted for PQ/HLG (default: from the stream's metadata, "
                        "else 1000, raised when the content is brighter)")
    # Checked with the other publish options before anything is sent (publish_from), not by
    # argparse: naming the choices here would load the whole colour stack for every command.
    g.add_argument("--output", action="append", default=[], metavar="OUTPUT",
                   help="an extra output beside the EXR frames (repeatable): aces-archive, "
                        "dpx10, dpx12, tiff16, review-sdr, review-hdr")
    g.add_argument("--allow-gaps", action="store_true",
                   help="publish an EXR delivery with missing, empty or unreadable frames: each "
                        "is a gap in the numbering, recorded in take.json (default: refuse)")
    g.add_argument("--strokes", metavar="FILE",
                   help="the annotation strokes that shaped this request (`genplate annotate`"
                        " writes them), saved with the take")


def root_from(args: argparse.Namespace) -> str:
    return str(Path(args.root or os.environ.get(ROOT_ENV) or "takes").resolve())


def _image(path: str | None) -> MediaRef | None:
    return MediaRef(path=str(Path(path).resolve())) if path else None


def _keyframe(spec: str) -> Keyframe:
    index, sep, path = spec.partition("=")
    if not sep or not index.strip().lstrip("-").isdigit():
        raise RequestError("--keyframe", spec, "INDEX=IMAGE, e.g. --keyframe 48=frame.png")
    return Keyframe(index=int(index), image=MediaRef(path=str(Path(path).resolve())))


def _rect(spec: str) -> ReframeRect:
    try:
        x, y, w, h = (float(v) for v in spec.split(","))
    except ValueError:
        raise RequestError("--reframe", spec, "four numbers X,Y,W,H, e.g. 0.1,0,0.8,1") from None
    return ReframeRect(x, y, w, h)


def request_from(args: argparse.Namespace) -> ShotRequest:
    common = dict(
        type=args.type, aspect_ratio=args.aspect, duration=args.duration, loop=args.loop,
        start_frame=_image(args.start_frame), end_frame=_image(args.end_frame),
        keyframes=tuple(_keyframe(k) for k in args.keyframe),
        extend_from=args.extend_from,
        extend_direction="backward" if args.extend_backward else "forward",
        source=_image(args.source), seed=args.seed,
        source_position=_rect(args.reframe) if args.reframe else None,
    )
    if args.type == "video_edit" or args.strength or args.control or args.auto_controls:
        common["edit"] = EditOptions(strength=args.strength or "adhere_2",
                                     auto_controls=args.auto_controls,
                                     controls=tuple(args.control))
    if args.master:
        return ShotRequest.master(args.prompt, resolution=args.resolution or "1080p", **common)
    if args.draft or (args.resolution is None and not args.hdr):
        if args.hdr or args.exr:
            raise RequestError("--hdr" if args.hdr else "--exr", True,
                               "720p or 1080p: use --master, or --resolution 720p --hdr")
        return ShotRequest.draft(args.prompt, **common)
    if args.resolution is None:  # --hdr alone: say what it became, it was not asked for
        from .output import say

        say("genplate: --hdr without --resolution makes a 720p HDR take; add --resolution "
            "1080p (or use --master) for 1080p")
    return ShotRequest(prompt=args.prompt, resolution=args.resolution or "720p", hdr=args.hdr,
                       exr_export=args.exr, **common)


def _strokes(path: str | None) -> list | None:
    if not path:
        return None
    from ..review.annotate import strokes_from_json, strokes_to_json

    try:
        # Parsed, not copied: a take records only strokes the annotation model understands.
        return strokes_to_json(strokes_from_json(json.loads(Path(path).read_text())))
    except (OSError, ValueError) as exc:
        raise RequestError("--strokes", path, f"a strokes file from `genplate annotate` ({exc})") from None


def publish_from(args: argparse.Namespace, request: ShotRequest | None, *,
                 name: str | None = None, parent: dict | None = None) -> PublishSpec:
    """Where and how a take is published; ``request`` is None for footage ingested from files."""
    from ..takes.layout import slug, validate_name

    spec = PublishSpec(
        # Checked here, before the job is recorded: a name refused at publishing would be
        # refused after the generation was paid for.
        root=root_from(args), shot=validate_name("shot", args.shot),
        name=validate_name("take", name or args.name or slug(request.prompt if request else "take")),
        kind=kind_for(request) if request is not None else "take", first_frame=args.first_frame, sdr_mode=args.sdr_mode,
        working_space=args.working_space, config=args.config, compression=args.compression,
        parent=parent, strokes=_strokes(getattr(args, "strokes", None)),
        pixel_type=args.pixel_type, hdr_mode=args.hdr_mode, assume=args.assume,
        source_tags=args.source_tags, peak_nits=args.peak_nits, outputs=tuple(args.output),
        allow_gaps=getattr(args, "allow_gaps", False), sdr_range=args.sdr_range)
    spec.ingest_options().check()  # a bad publish option is refused before anything is paid
    return spec
