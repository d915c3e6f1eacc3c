"""`discover serve`: wired in by the CLI with `from discover.web.commands import register; register(app)`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from discover.console import console, err_console

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(
    runs_dir: Optional[Path] = typer.Option(None, "--runs-dir", envvar="DISCOVER_RUNS_DIR", show_default="./runs",
                                            help="Where runs are stored."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="Port to listen on (0: any free port)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on. Anything but loopback exposes your "
                             "runs (code, prompts, responses) to the network."),
    open_: bool = typer.Option(False, "--open", help="Open the page in the default browser."),
) -> None:
    """A live, read-only web view of your runs (scores, lineage, code, diffs, prompts, responses).

    Every candidate's train score on a scatter, the whole lineage tree, and per candidate its code, diff to each
    parent, thought, feedback, prompt and raw response; the page updates while a run writes to the store."""
    from discover.store import default_runs_dir
    from discover.web.server import make_server

    where = runs_dir if runs_dir is not None else default_runs_dir()
    server = make_server(where, host=host, port=port)
    if host not in LOOPBACK:
        err_console.print(f"warning: listening on {host}: anyone who can reach this address sees your runs",
                          style="yellow", markup=False, highlight=False)
    console.print(f"discover serve: {server.url}  (runs in {where}; Ctrl-C stops)", markup=False, highlight=False,
                  soft_wrap=True)
    if open_:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
