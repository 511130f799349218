"""Generation against a latency-injected OpenAI-compatible server on 127.0.0.1: how close the
generation loop comes to keeping every slot busy, now (a slot taken by the next call as soon as
any answer is in, its pairs checked outside the slot) and before (a new call only once the
oldest call in flight had ended, its pairs checked).

The server runs in a process of its own (so its work is not counted as the pipeline's CPU) and
answers each call after a fixed latency or a uniformly jittered one, with ten pairs of the
bundled example's offline teacher. For each setting: calls per second against the ideal
(concurrency / mean latency) and against the CPU bound (1 / the pipeline's CPU seconds per
call, measured in the same run: parsing, validating and executing the pairs, de-duplication);
efficiency is achieved / min(ideal, CPU bound). Timed is the generation loop itself (the run's
set-up and its final files are not). Not a test: run it by hand.

    .venv/bin/python bench/generation_throughput.py --calls 96 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "text2sql"
PAIRS_PER_CALL = 10


# -- the server ---------------------------------------------------------------------------------
def _serve(pool: list[list[dict]], latency: float, jitter: bool, conn) -> None:
    """A process: the fake OpenAI server answering call k with pool[k], after the latency."""
    import http.server
    import itertools
    import sys
    import threading

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.fakeprovider import FakeProvider

    http.server.ThreadingHTTPServer.request_queue_size = 256  # 32 clients connect at once

    counter, lock = itertools.count(), threading.Lock()
    rng = random.Random(0)

    def respond(messages: list[dict]) -> str:
        with lock:
            k = next(counter)
            delay = rng.uniform(0.2 * latency, 1.8 * latency) if jitter else latency
        time.sleep(delay)
        return json.dumps(pool[k % len(pool)])

    provider = FakeProvider(respond).start()
    conn.send(provider.url)
    conn.recv()  # stop
    provider.stop()


def proposal_pool(project, calls: int) -> list[list[dict]]:
    """`calls` batches of ten distinct pairs from the example's offline teacher."""
    from slm_distill.examples.text2sql.teacher import TEACHER

    task = project.task()
    try:
        seeds = [{"input": s.input, "output": s.output} for s in project.split()[0]]
        base = task.context()
        return [TEACHER.propose(PAIRS_PER_CALL, seeds, {**base, "sample": 10_000 + k,
                                                        "augmentation": None})
                for k in range(calls)]
    finally:
        task.close()


# -- the loop before ----------------------------------------------------------------------------
async def run_before(project, teacher, task, ledger, start, target, planner, progress):
    """The generation loop as it was: new calls start only once the oldest call has ended."""
    from slm_distill.tools.errors import BudgetExceeded
    from slm_distill.tools.generate_pairs import EXPECTED_YIELD, _call_limit, _commit, run_call

    gen = project.config.generation
    need = max(0, target - len(ledger.pairs))
    max_calls = _call_limit(project, start, target, need, teacher.concurrency)
    in_flight: dict[int, asyncio.Task] = {}
    next_index = commit_index = start
    proposed = kept = 0
    try:
        while len(ledger.pairs) < target:
            rate = min(1.0, max(0.05, kept / proposed)) if proposed else EXPECTED_YIELD
            want = target - len(ledger.pairs)
            while (len(in_flight) < teacher.concurrency and next_index < max_calls
                   and len(in_flight) * gen.pairs_per_call * rate < want * 1.1):
                in_flight[next_index] = asyncio.create_task(
                    run_call(next_index, planner(next_index), teacher, task, project))
                next_index += 1
            if commit_index not in in_flight:
                return f"gave up after {max_calls} calls"
            try:
                result = await in_flight.pop(commit_index)
            except BudgetExceeded as exc:
                return f"budget reached: {exc}"
            proposed += result.proposed
            kept += _commit(project, ledger, result, target)
            commit_index += 1
        return None
    finally:
        for pending in in_flight.values():
            pending.cancel()
        await asyncio.gather(*in_flight.values(), return_exceptions=True)
        await teacher.close()


# -- one run ------------------------------------------------------------------------------------
def one_run(template: Path, url: str, loop: str, concurrency: int, calls: int) -> dict:
    """Generate about `calls` calls' worth of pairs into a copy of the template project."""
    import slm_distill.tools.generate_pairs as gp
    from slm_distill.tools.workspace.project import Project

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "p"
        shutil.copytree(template, root)
        project = Project.load(root)
        project.config.generation.concurrency = concurrency
        project.save()
        real = gp._run
        chosen = run_before if loop == "before" else real
        clock: dict[str, float] = {}

        async def timed(*a: object) -> str | None:  # the loop alone, not the run's set-up
            clock["cpu"], clock["wall"] = time.process_time(), time.perf_counter()
            try:
                return await chosen(*a)
            finally:
                clock["wall"] = time.perf_counter() - clock["wall"]
                clock["cpu"] = time.process_time() - clock["cpu"]

        gp._run = timed
        try:
            report = gp.generate_pairs(project, n=calls * 8)  # about 8 of 10 pairs are kept
        finally:
            gp._run = real
        made = len(gp.read_jsonl_dicts(project.path("data", "calls.jsonl")))
    return {"calls": made, "wall": clock["wall"], "cpu": clock["cpu"], "kept": report.kept}


def template_project(folder: Path, url: str | None = None) -> Path:
    """The bundled example with its teacher validated: the offline teacher, or the server at
    `url` (which answers with pairs, not SQL, so its gate is overridden)."""
    from slm_distill.tools.validate_teacher import override_gate, validate_teacher
    from slm_distill.tools.workspace.project import add_seeds, init_project

    teacher = (f"openai:bench-model@{url}/v1" if url
               else "python:slm_distill.examples.text2sql.teacher:TEACHER")
    project = init_project(folder / "template", schema=EXAMPLE / "schema.sql", teacher=teacher,
                           student="scratch:tiny")
    add_seeds(project, EXAMPLE / "seeds.jsonl")
    project.config.teacher_cache = "off"
    project.save()
    validate_teacher(project)
    if url:
        override_gate(project, "a benchmark: the server replays the offline teacher's pairs")
    return project.root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=96, help="Calls per run (about).")
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", default="8,32")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from slm_distill.tools.workspace.project import Project

    with tempfile.TemporaryDirectory() as scratch:
        pool = proposal_pool(Project.load(template_project(Path(scratch) / "offline")),
                             args.calls * 4)
        for jitter in (False, True):
            here, there = multiprocessing.Pipe()
            server = multiprocessing.Process(target=_serve, args=(pool, args.latency, jitter, there),
                                             daemon=True)
            server.start()
            url = here.recv()
            try:
                template = template_project(Path(scratch) / f"jitter-{jitter}", url)
                _report(template, url, args, jitter)
            finally:
                here.send("stop")
                server.join(10)


def _report(template: Path, url: str, args: argparse.Namespace, jitter: bool) -> None:
    label = (f"latency {0.2 * args.latency:g}-{1.8 * args.latency:g} s uniform" if jitter
             else f"latency {args.latency:g} s")
    for concurrency in (int(c) for c in args.concurrency.split(",")):
        ideal = concurrency / args.latency  # calls per second with every slot always busy
        runs: dict[str, list[dict]] = {"before": [], "now": []}
        for r in range(args.rounds):
            for loop in (("before", "now") if r % 2 == 0 else ("now", "before")):
                runs[loop].append(one_run(template, url, loop, concurrency, args.calls))
        for loop, done in runs.items():
            rates = [d["calls"] / d["wall"] for d in done]
            cpu_bound = statistics.median(d["calls"] / d["cpu"] for d in done)
            rate = statistics.median(rates)
            print(f"{label}, concurrency {concurrency:>2}, {loop:<6}: {rate:5.1f} calls/s "
                  f"(runs {min(rates):.1f}-{max(rates):.1f}); ideal {ideal:.1f}, CPU bound "
                  f"{cpu_bound:.1f}: {rate / ideal:4.0%} of ideal, {rate / min(ideal, cpu_bound):4.0%}"
                  f" of min(ideal, CPU bound); {statistics.median(d['kept'] for d in done):.0f} "
                  "pairs kept per run")


if __name__ == "__main__":
    main()
