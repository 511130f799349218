"""The distillation pipeline. The flow, one module per stage, in order:

    validate_teacher.py   the teacher answers the validation seeds; the 0.80 gate
    generate_pairs.py     the teacher invents pairs; each is validated, de-duplicated, leak-checked
    train_student.py      LoRA or full fine-tuning (a job)
    evaluate.py           base vs student vs teacher on the held-out test seeds
    export_gguf.py        GGUF files, each re-evaluated in llama.cpp
    improve.py            failure-targeted rounds of generation, retraining and re-evaluation

What the stages take and where both surfaces enter:

    requests.py           one request model per stage: every parameter, described, with its default
    stages.py             one entry point per stage, called by the CLI, the MCP server and jobs
    actions.py            next steps and fixes, phrased for the CLI or for MCP
    errors.py             the few exception classes, each carrying its fix
    secrets.py            API keys scrubbed from everything that leaves the process

The rest, by concern: workspace/ (the project directory, its configuration, jobs, status),
tasks/ (what makes Text2SQL a task, and untrusted SQL kept in its sandbox), teachers/ (LLM
backends, cache, prices), generation/ (estimates, advice when a run falls short, near-duplicates,
re-checking pairs after the seeds change, the Hugging Face dataset), training/ (students,
rendering, the trainer),
reporting/ (saving reports, intervals, charts, the model card), llamacpp/ (its sources, quieting
its output), cli/ (the `distill` command).
"""
