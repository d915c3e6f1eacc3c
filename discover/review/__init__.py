"""Review what runs discovered: leaderboards, run lists, candidate inspection, lineage, export, HTML reports.
Everything here reads the run store; nothing writes to it. The CLI wires it in with
`from discover.review.commands import register; register(app)`."""
