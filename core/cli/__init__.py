"""The `genplate` command: the engine's one door, for artists in a terminal and for the hosts.

`main` builds the parser and turns errors into one line (or one ``{"error": ...}`` object under
``--json``); each command family has its module (`luma`, `colour`, `drafts`, `hosts`, and the
main job's in `main`), `options` holds the request and publish options they share. The hosts
run it as ``python -m genplate.core.cli`` (`__main__`).
"""
