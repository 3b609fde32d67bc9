"""`genplate install nuke|resolve`: put genplate where each host looks for it, without hand
edits. The installers write the engine record the host side reads, through
`genplate.panel.engine_config` (standard library only), so both sides share one format."""
