"""How many threads llama.cpp computes with: the machine's physical cores (hyper-threads share a
core's arithmetic units and slow matrix work down), or SLM_DISTILL_LLAMA_THREADS.

    llama_cpp.Llama(model_path=..., n_threads=llama_threads())

llama-cpp-python's own default is a fixed guess that gave one thread on a two-core machine here,
where two threads decoded 1.4-1.5x faster (bench/gguf_threads.py).
"""

from __future__ import annotations

import os

THREADS_VAR = "SLM_DISTILL_LLAMA_THREADS"


def llama_threads() -> int:
    """SLM_DISTILL_LLAMA_THREADS when set to a positive number, else the physical cores this
    process may run on."""
    chosen = os.environ.get(THREADS_VAR, "").strip()
    if chosen.isdigit() and int(chosen) > 0:
        return int(chosen)
    return physical_cores()


def physical_cores() -> int:
    """Distinct (package, core) pairs among the CPUs this process may use (/proc/cpuinfo), or the
    count of those CPUs where the kernel does not say."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    cores: set[tuple[str, str]] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            blocks = fh.read().split("\n\n")
    except OSError:
        blocks = []
    for block in blocks:
        fields = dict(line.split(":", 1) for line in block.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        if "processor" not in fields or "core id" not in fields:
            continue
        if allowed and int(fields["processor"]) not in allowed:
            continue
        cores.add((fields.get("physical id", "0"), fields["core id"]))
    return len(cores) or len(allowed) or os.cpu_count() or 1
