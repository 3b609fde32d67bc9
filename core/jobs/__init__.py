"""The main job, followed from the ledger: `runner` takes a job through every step of DESIGN.md's
data flow, writing each to the `ledger` (SQLite) before and after; `budget` refuses what would
pass a project's cap. Nothing is re-exported here, so `genplate jobs` reading the ledger does not
load the backends and the HTTP stack."""
