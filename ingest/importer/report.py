"""What the import tells a person: a line per object kind, a table, totals, the exit code.

Exit codes: 0 when every object was imported whole (created, updated or already unchanged);
3 when something was skipped, conflicted or carried only in part (the table says what and why).
"""

from __future__ import annotations

from collections.abc import Callable

from ingest.importer.plan import Action, Plan

EXIT_OK = 0
EXIT_INCOMPLETE = 3
VERBS = ("create", "update", "unchanged", "skip", "conflict")

Print = Callable[[str], None]


def counts_line(what: str, actions: list[Action]) -> str:
    counts = {verb: sum(1 for a in actions if a.verb == verb) for verb in VERBS}
    parts = [f"{n} {verb}" for verb, n in counts.items() if n]
    return f"{what}: {', '.join(parts) or 'none'}"


def _rows(plan: Plan) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for action in plan.all():
        detail = "; ".join(filter(None, [action.reason, *action.notes]))
        verb = action.verb + ("*" if action.notes else "")
        rows.append((action.kind, action.name, verb, detail))
    return rows


def table(plan: Plan, out: Print) -> None:
    rows = [("KIND", "NAME", "ACTION", "DETAIL"), *_rows(plan)]
    widths = [min(max(len(row[i]) for row in rows), 40) for i in range(3)]
    for kind, name, verb, detail in rows:
        cells = [kind.ljust(widths[0]), name[:40].ljust(widths[1]), verb.ljust(widths[2]), detail]
        out("  ".join(cells).rstrip())


def summary(plan: Plan, dry_run: bool, out: Print) -> int:
    actions = plan.all()
    out("")
    out(counts_line("total", actions))
    skipped = sum(1 for a in actions if a.verb == "skip")
    conflicts = sum(1 for a in actions if a.verb == "conflict")
    partial = sum(1 for a in actions if a.notes and a.verb not in ("skip", "conflict"))
    if dry_run:
        out("dry run: nothing was written; run again without --dry-run to import")
    if skipped or conflicts or partial:
        out(
            f"incomplete: {skipped} skipped, {conflicts} in conflict, {partial} carried in part "
            "(marked *); see DETAIL above"
        )
        return EXIT_INCOMPLETE
    out("everything was imported" if not dry_run else "everything can be imported")
    return EXIT_OK
