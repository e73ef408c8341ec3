"""``fundcrawl worker`` with phase timers in every pool child: where a report's time goes inside a real worker.

    python bench/phase_worker.py OUT_DIR worker -c 2 ...

Each pool child wraps its runtime's collaborators with the timers of ``bench/phases.py`` when the runtime is
built, and appends one JSON line per task to ``OUT_DIR/<pid>.jsonl``: wall and CPU time of the Celery task
(``task_prerun`` to ``task_postrun``), of ``processing.process_report`` inside it, and of each phase.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from celery import signals
from phases import Timings, instrument

from crawler import processing

OUT = Path(sys.argv.pop(1))
_timings: Timings = defaultdict(list)
_task: dict[str, float] = {}
_original_runtime = processing.runtime
_original_process = processing.process_report


def _runtime(settings: Any, **options: Any) -> processing.Runtime:
    rt = _original_runtime(settings, **options)
    if not getattr(rt, "bench_instrumented", False):
        instrument(rt, _timings)
        rt.bench_instrumented = True  # type: ignore[attr-defined]
    return rt


def _process_report(rt: processing.Runtime, upload_info_id: int, **options: Any) -> Any:
    started, cpu = time.perf_counter(), time.process_time()
    try:
        return _original_process(rt, upload_info_id, **options)
    finally:
        _timings["process_report"].append(time.perf_counter() - started)
        _timings["process_report_cpu"].append(time.process_time() - cpu)


@signals.task_prerun.connect
def _task_started(**_: Any) -> None:
    _timings.clear()
    _task.update(wall=time.perf_counter(), cpu=time.process_time(), at=time.time())


@signals.task_postrun.connect
def _task_finished(**_: Any) -> None:
    line = {name: round(sum(values) * 1000, 2) for name, values in _timings.items()}
    line["task"] = round((time.perf_counter() - _task["wall"]) * 1000, 2)
    line["task_cpu"] = round((time.process_time() - _task["cpu"]) * 1000, 2)
    line["started_at"], line["ended_at"], line["pid"] = _task["at"], time.time(), os.getpid()
    with (OUT / f"{os.getpid()}.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


processing.runtime = _runtime  # type: ignore[assignment]
processing.process_report = _process_report  # type: ignore[assignment]

if __name__ == "__main__":
    from crawler.cli import main

    main(prog_name="fundcrawl")
