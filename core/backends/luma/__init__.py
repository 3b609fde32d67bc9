"""Luma's Agents API (luma-agents-api.md): `client` (HTTP, retries, what counts as never sent),
`files` (local images inline or through the Files API, each uploaded once), `settings` (the
GENPLATE_LUMA_* environment), `credentials` (the key in the OS keyring) and `backend`, the
Backend the job runner drives. Nothing is imported here: loading `requests` is left to a job."""
