"""From the service's answer to files on disk: `fetch` downloads the outputs (resumable,
verified, atomic) and `unpack` says what a delivered file is and extracts a delivered ZIP
without trusting it. A backend ends where this room begins; ingest begins where it ends."""
