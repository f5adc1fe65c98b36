"""Benchmark of the template sandbox (run: ``.venv/bin/python bench/templates.py``).

Measures, in one run and side by side, the alertmanager default templates (grouping key, resolve
and acknowledge signals, source link, web title/message/image) on the Alertmanager firing fixture:

1. renders/s of a plain ``jinja2.sandbox.SandboxedEnvironment`` (compiled once, mutable payload);
2. the same plain sandbox with the flat-globals trick we use (isolates the guards' own cost);
3. renders/s of our ``templates_engine`` sandbox with a warm compile cache (read-only payload,
   render budget, size caps, output cut), and the relative cost of that enforcement;
4. a full ``evaluate_alert`` (labels + key + signals) per second, for scale.

Rounds alternate between the two environments so machine noise hits both alike; the best round of
each is reported.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from jinja2.sandbox import SandboxedEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from templates_engine import evaluate_alert, get_engine
from templates_engine.defaults import default_templates
from templates_engine.readonly import freeze

FIXTURE = Path("/work/shared/fixtures/alertmanager/firing.json")
LOCAL_FIXTURE = Path(__file__).resolve().parent.parent / "tests/fixtures/alertmanager/firing.json"


def _sources() -> list[str]:
    defaults = default_templates("alertmanager")
    names = ["grouping_key", "resolve_signal", "source_link"]
    out = [str(defaults[n]) for n in names if defaults[n]]
    web = defaults["web"]
    assert isinstance(web, dict)
    out += [v for v in web.values() if v]
    return out


def _load_payload() -> Any:
    path = FIXTURE if FIXTURE.exists() else LOCAL_FIXTURE
    return json.loads(path.read_text())


def _time_rounds(fn: Any, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - start


def main() -> None:
    payload = _load_payload()
    sources = _sources()
    plain = SandboxedEnvironment()
    plain_templates = [plain.from_string(s) for s in sources]
    flat_templates = [plain.from_string(s) for s in sources]
    for t in flat_templates:  # the same flat-globals trick templates_engine uses
        t.globals = dict(t.globals)
    engine = get_engine()
    for s in sources:
        engine.compile(s)  # warm cache
    context_plain = {"payload": payload, "labels": {}, "source_link": ""}

    def run_plain() -> None:
        for t in plain_templates:
            t.render(context_plain)

    def run_flat() -> None:
        for t in flat_templates:
            t.render(context_plain)

    def run_ours() -> None:
        ctx = {"payload": freeze(payload), "labels": freeze({}), "source_link": ""}
        for s in sources:
            result = engine.render(s, ctx)
            if result.text is None:
                raise SystemExit(f"render failed: {result.message}")

    n = 400
    best_plain = best_flat = best_ours = float("inf")
    for _ in range(7):
        best_plain = min(best_plain, _time_rounds(run_plain, n))
        best_flat = min(best_flat, _time_rounds(run_flat, n))
        best_ours = min(best_ours, _time_rounds(run_ours, n))
    per_set = len(sources)
    plain_rps = n * per_set / best_plain
    ours_rps = n * per_set / best_ours
    overhead = (best_ours / best_plain - 1) * 100
    overhead_flat = (best_ours / best_flat - 1) * 100
    eval_n = 300
    eval_s = _time_rounds(lambda: evaluate_alert("alertmanager", None, payload), eval_n)
    print(f"templates per set: {per_set} (alertmanager defaults, firing fixture, warm cache)")
    print(f"plain SandboxedEnvironment : {plain_rps:10.0f} renders/s")
    print(f"plain sandbox, flat globals: {n * per_set / best_flat:10.0f} renders/s")
    print(f"templates_engine (enforced): {ours_rps:10.0f} renders/s")
    print(f"enforcement cost vs plain  : {overhead:+9.1f} %  (target < 20 %)")
    print(f"  vs plain with flat globals: {overhead_flat:+8.1f} %  (cost of the guards alone)")
    print(f"evaluate_alert             : {eval_n / eval_s:10.0f} alerts/s")


if __name__ == "__main__":
    main()
