"""The loop demo's panels (rich): where the loop is, the versions with their roles and live
accuracy, the timeline of its steps, and the summary printed at the end."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from streaminfer.pipelines.devtools.loop_story import LoopStory, Step
from streaminfer.pipelines.lifecycle.versions import version_label
from streaminfer.pipelines.online.live_view import live_table, rows_of
from streaminfer.pipelines.validation.moments import alert_label

#: The headline for the latest step of each kind.
PHASES = {
    "shift": "the input shifted: live accuracy of {v} is falling",
    "drift": "drift alert: {v}'s inputs no longer look like its training data",
    "retrain": "retraining on the labelled examples (a Ray task)",
    "candidate": "{v} registered: {verdict}",
    "shadow": "{v} shadows the champion: both scored on the live labels",
    "canary": "{v} answers a share of the events as a canary",
    "promote": "{v} promoted: it beat the champion on the live labels",
    "swap": "{v} serving",
    "rollback": "{v} rolled back",
}
STYLES = {"shift": "yellow", "drift": "red", "retrain": "cyan", "candidate": "cyan",
          "shadow": "magenta", "canary": "magenta", "promote": "green", "swap": "green",
          "rollback": "red"}


def clock(seconds: float) -> str:
    """Seconds since the start as ``+m:ss.s``.

    >>> clock(75.25)
    '+1:15.2'
    """
    minutes, rest = divmod(max(0.0, seconds), 60)
    return f"+{int(minutes)}:{rest:04.1f}"


def phase(story: LoopStory, serving: str | None) -> str:
    """One line: where the loop is now."""
    if not story.steps:
        now = version_label(serving) if serving else "?"
        return f"serving {now}; waiting for the input to shift"
    step = story.steps[-1]
    if step.kind == "candidate" and not step.version:
        return "the retraining failed (the timeline says why); the next one after the cooldown"
    verdict = alert_label("candidate", step.version, step.message).split(" ", 1)[-1]
    line = PHASES.get(step.kind, step.kind).format(v=version_label(step.version),
                                                   verdict=verdict)
    if step.kind in ("promote", "swap") and story.after_promotion is not None:
        line += f"; live accuracy {story.after_promotion:.3f}"
    return line


def versions_table(model: str, live: Mapping[str, Mapping[str, float]],
                   roles: Mapping[str, str]) -> Table:
    """Per version: its role (serving, shadow, ...), live accuracy and examples in the
    window."""
    table = live_table(f"{escape(model)}: live accuracy per version")
    for column in ("version", "role", "accuracy", "examples"):
        table.add_column(column, justify="right" if column in ("accuracy", "examples")
                         else "left")
    for version in sorted(set(live) | set(roles), key=_order):
        metrics = live.get(version, {})
        accuracy = metrics.get("accuracy")
        table.add_row(version_label(version), roles.get(version, "earlier"),
                      "-" if accuracy is None or accuracy != accuracy else f"{accuracy:.3f}",
                      f"{int(metrics.get('examples', 0)):,}")
    return table


#: The most steps the timeline shows (fewer when the screen has no room for them).
TIMELINE_STEPS = 12


def timeline_table(steps: list[Step], limit: int = TIMELINE_STEPS) -> Table:
    """The latest ``limit`` steps with their time since the start, one row each."""
    shown = steps[-limit:] if limit > 0 else []
    title = "the loop" if len(shown) == len(steps) else \
        f"the loop (the latest {len(shown)} of {len(steps)} steps)"
    table = live_table(title)
    for column, width in (("time", 8), ("step", 9), ("version", 7)):
        table.add_column(column, no_wrap=True, min_width=width)
    table.add_column("what", no_wrap=True, overflow="ellipsis")
    for step in shown:
        style = STYLES.get(step.kind, "")
        table.add_row(clock(step.at_s), Text(step.kind, style=style),
                      version_label(step.version) if step.version else "",
                      escape(step.message))
    return table


def loop_panels(story: LoopStory, model: str, serving: str | None,
                live: Mapping[str, Mapping[str, float]], roles: Mapping[str, str], *,
                retraining: bool = False, fit: tuple[Console, int] | None = None) -> Group:
    """What the loop demo adds to the demo's screen; with ``fit`` (a console, rows), the
    timeline shows only as many latest steps as leave the panels within those rows."""
    running = " (a retraining is running)" if retraining and story.steps and \
        story.steps[-1].kind != "retrain" else ""
    headline = Text(f"loop: {phase(story, serving)}{running}", style="bold")
    versions = versions_table(model, live, roles)
    for limit in range(min(TIMELINE_STEPS, len(story.steps)), -1, -1):
        panels = Group(headline, versions, timeline_table(story.steps, limit))
        if fit is None or limit == 0 or rows_of(fit[0], panels) <= fit[1]:
            break
    return panels


def summary_table(story: LoopStory) -> Table:
    """The loop's times and accuracies, for the end of the demo."""
    table = Table(title="the loop", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for kind in ("shift", "retrain", "candidate", "shadow", "promote"):
        step = story.first(kind)
        table.add_row(f"{kind} at", "-" if step is None else
                      f"{clock(step.at_s)} ({version_label(step.version)})")
    retrain, promote = story.first("retrain"), story.first("promote")
    if retrain is not None and promote is not None:
        table.add_row("retrain -> promote", f"{promote.at_s - retrain.at_s:.1f} s")
    for label, value in (("accuracy before the drift", story.before_drift),
                         ("accuracy after the drift (lowest)", story.after_drift),
                         ("accuracy after the promotion", story.after_promotion)):
        table.add_row(label, "-" if value is None else f"{value:.3f}")
    return table


def _order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (1 << 30, version)
