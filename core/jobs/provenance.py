"""What a generated take says about the job that made it: the provenance in every frame's EXR
header and in take.json (request, backend, remote id, the times each step was first reached)."""
from __future__ import annotations

from .. import __version__
from ..request import ShotRequest
from ..takes.record import PublishSpec, iso_time, publish_record
from . import ledger as L


def exr_provenance(job: L.Job, spec: PublishSpec, version: int, request: ShotRequest) -> dict:
    """The essentials of take.json that travel inside every frame's header."""
    header = {
        "genplate:shot": spec.shot,
        "genplate:take": spec.name,
        "genplate:version": f"v{version:03d}",
        "genplate:kind": spec.kind,
        "genplate:job_id": job.id,
        "genplate:backend": job.backend,
        "genplate:remote_id": job.remote_id or "",
        "genplate:model": request.model,
        "genplate:prompt": request.prompt,
        "genplate:engine": f"genplate {__version__}",
    }
    if request.seed is not None:
        header["genplate:seed"] = str(request.seed)
    return header


def take_record(job: L.Job, spec: PublishSpec, staging, request: ShotRequest, result,
                ledger: L.Ledger) -> dict:
    """take.json of a generated take: the provenance record published beside the frames."""
    times: dict[str, str] = {}
    for event in ledger.events(job.id):  # the first time each step was reached
        if event.state in (L.QUEUED, L.SUBMITTED, L.DELIVERED):
            times.setdefault(event.state, iso_time(event.at))
    return publish_record(spec, staging, result, job_id=job.id, backend=job.backend,
                          remote_id=job.remote_id, request=request.to_json(),
                          inputs=request.input_hashes(), estimate_usd=job.estimate_usd,
                          times=times)
