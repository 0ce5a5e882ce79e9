"""One renderer choice, one call: a command builds a *view* of its result and hands it to
:func:`emit` with ``--format``; the format is resolved once (``github`` inside GitHub Actions,
``text`` elsewhere) and the view's renderer for it is the only one that runs.

Also the one reader of the GitHub event that started the job (``GITHUB_EVENT_PATH``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import click

from jitops.cli import render
from jitops.lifecycle.outcome import Outcome


class View(Protocol):
    """A command's result, renderable for people, for GitHub Actions and for machines."""

    def text(self) -> str: ...

    def github(self) -> tuple[str, str | None]:
        """What to print, and the markdown to add to the job's step summary (or None)."""
        ...

    def json(self) -> str: ...


def emit(view: View, fmt: str | None) -> None:
    """Print ``view`` in ``fmt`` (resolved by :func:`jitops.cli.render.output_format`)."""
    chosen = render.output_format(fmt)
    if chosen == "json":
        click.echo(view.json())
    elif chosen == "github":
        out, summary = view.github()
        click.echo(out)
        if summary is not None:
            render.append_step_summary(summary)
    else:
        click.echo(view.text())


@dataclass(frozen=True)
class Outcomes:
    """The results of issue, sweep or revoke."""

    title: str
    outcomes: Sequence[Outcome]

    def text(self) -> str:
        return render.outcomes_text(self.title, self.outcomes)

    def github(self) -> tuple[str, str | None]:
        return self.text(), render.outcomes_summary(self.title, self.outcomes)

    def json(self) -> str:
        return render.outcomes_json(self.outcomes)


@dataclass(frozen=True)
class Lines:
    """A result with one text for people and a JSON document (``github`` prints the text)."""

    render_text: Callable[[], str]
    render_json: Callable[[], str]

    def text(self) -> str:
        return self.render_text()

    def github(self) -> tuple[str, str | None]:
        return self.text(), None

    def json(self) -> str:
        return self.render_json()


def github_event() -> Mapping[str, Any]:
    """The event that started this GitHub Actions job (the JSON file ``GITHUB_EVENT_PATH``
    names); empty outside Actions or when the file is missing or not a JSON object. Each
    command reads it once and passes what it needs on."""
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path or not Path(path).is_file():
        return {}
    event = json.loads(Path(path).read_text(encoding="utf-8"))
    return event if isinstance(event, dict) else {}
