"""export_gguf: the trained student as GGUF for llama.cpp and Ollama, re-checked after export.

    report = export_gguf(project, quants=("q8_0", "q4_k_m"))     # exports/, reports/export.*

Steps: the merged model (runs/student/merged) is converted to GGUF f16 with llama.cpp's own
converter (from the llama-cpp-python sources matching the installed version, tools/llamacpp/vendor.py),
quantised with llama-cpp-python's quantize API, and every GGUF answers the test split in
llama-cpp-python with the same prompt renderer, chat template tokens and stop token as training.
A quantisation losing more than `margin` points, or answering differently from the HF model on
more than 1 - `min_agreement` of the inputs, is marked not recommended; an f16 GGUF whose
accuracy differs from the HF model's is an error (a template or tokenizer mismatch). Also written:
an Ollama Modelfile matching the training template, the LoRA adapter on its own, and a model card.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from slm_distill.tools.errors import DistillError, UsageError, require
from slm_distill.tools.evaluate import (
    Interval,
    accuracy,
    decoding_of,
    latest_verdict,
    retrained_since_evaluation,
)
from slm_distill.tools.llamacpp.quiet import quiet_native_stderr
from slm_distill.tools.llamacpp.threads import llama_threads
from slm_distill.tools.llamacpp.vendor import vendor_dir
from slm_distill.tools.reporting.reports import (
    Provenance,
    Report,
    md_table,
    provenance,
    save_report,
)
from slm_distill.tools.training.training_data import student_prompt, student_system, template_tools
from slm_distill.tools.workspace.progress import ProgressFn, no_progress
from slm_distill.tools.workspace.project import Project, Seed

QUANT_TYPES = {"q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
               "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0"}


class QuantResult(BaseModel):
    quant: str
    file: str
    size_mb: float
    accuracy: Interval
    agreement: float = Field(description="Share of answers identical to the HF model's.")
    delta_points: float = Field(description="Accuracy minus the HF model's, in points.")
    recommended: bool
    note: str = ""
    with_grammar: Interval | None = Field(
        None, description="Extraction: the same GGUF answering within the grammar llama.cpp makes "
        "of the JSON Schema (every answer parses and fits the schema's shape).")


class ExportReport(Report):
    model_name: str
    hf_accuracy: Interval
    margin_points: float
    results: list[QuantResult]
    parity_ok: bool = Field(description="The f16 GGUF scores exactly as the HF model does.")
    verdict: str | None = Field(None, description="The evaluation's verdict (deploy, retune, "
                                "more_data, rethink); no file is recommended unless deploy.")
    fixes: list[str] = Field(default_factory=list, description="What the export changed in the "
                             "GGUF files so that they prompt as training did.")
    decoding: str = Field("free", description="How every model answered: free generation, or "
                          "constrained to the task's choices (evaluation.constrained).")
    files: dict[str, str]
    provenance: Provenance

    def summary(self) -> str:
        how = ", answers constrained to the labels" if self.decoding == "constrained" else ""
        lines = [f"GGUF parity on the test split (HF model: {self.hf_accuracy.accuracy:.1%}{how}):",
                 f"  {'quant':<7} {'MB':>7} {'accuracy':>9} {'Δ pts':>6} {'same':>5}  recommended"]
        lines += [f"  {q.quant:<7} {q.size_mb:>7.1f} {q.accuracy.accuracy:>9.1%} "
                  f"{q.delta_points:>+6.1f} {q.agreement:>5.0%}  {'yes' if q.recommended else 'no'}"
                  + (f"  (with the schema's grammar: {q.with_grammar.accuracy:.1%})"
                     if q.with_grammar else "")
                  + f"{'  ' + q.note if q.note else ''}" for q in self.results]
        hf = self.hf_accuracy
        lines.append(f"  student (HF) {hf.accuracy:.1%} [{hf.low:.0%}, {hf.high:.0%}]; "
                     f"evaluation verdict: {self.verdict or 'none (not evaluated)'}")
        lines.append("  files in exports/; report: reports/export.md")
        return "\n".join(lines)

    def markdown(self) -> str:
        grammar = any(q.with_grammar for q in self.results)
        rows = [[q.quant, q.file, f"{q.size_mb:.1f}", f"{q.accuracy.accuracy:.1%}",
                 *([f"{q.with_grammar.accuracy:.1%}" if q.with_grammar else "-"] if grammar else []),
                 f"{q.delta_points:+.1f}", f"{q.agreement:.0%}", "yes" if q.recommended else "no",
                 q.note] for q in self.results]
        hf = self.hf_accuracy
        return "\n".join([
            f"# GGUF export of {self.model_name}", "",
            f"HF model accuracy on the test split: {hf.accuracy:.1%} ({hf.correct}/{hf.n}, 95% "
            f"interval [{hf.low:.0%}, {hf.high:.0%}]). Margin: {self.margin_points:g} points. "
            f"Decoding: {self.decoding}. Evaluation verdict: "
            f"{self.verdict or 'none (not evaluated)'}; no file is recommended unless it is "
            "deploy.", "",
            md_table(["quant", "file", "MB", "accuracy",
                      *(["with the schema's grammar"] if grammar else []), "Δ points",
                      "same answers", "recommended", "note"], rows), "",
            *(["The grammar column: the same file answering within the grammar llama.cpp makes "
               "of the JSON Schema (`output_schema.gbnf`). Parity and the recommendation use the "
               "free answers.", ""] if grammar else []),
            *[f"Fixed in the GGUF files: {fix}." for fix in self.fixes],
            *([""] if self.fixes else []),
            "Parity: " + ("f16 matches the HF model." if self.parity_ok else
                          "**f16 does NOT match the HF model: template or tokenizer mismatch.**"), "",
            "Files: " + ", ".join(f"`{v}`" for v in self.files.values()), ""])


def convert_to_f16(merged: Path, out: Path) -> Path:
    script = vendor_dir() / "convert_hf_to_gguf.py"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(script.parent), str(script.parent / "gguf-py")])}
    env.pop("NO_LOCAL_GGUF", None)
    cmd = [sys.executable, str(script), str(merged), "--outfile", str(out), "--outtype", "f16"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0 or not out.is_file():
        raise DistillError(f"llama.cpp's converter failed on {merged}:\n{done.stderr[-1500:]}")
    return out


def match_bos(path: Path, tokenizer: Any, task: Any) -> tuple[str | None, bool]:
    """Make llama.cpp start a prompt as training did: (what was changed, whether the Modelfile's
    TEMPLATE must write the BOS token itself). A SentencePiece family's GGUF (Phi-3) asks for a
    BOS token its HF chat template never writes: that flag is turned off in the file. A template
    that writes BOS (Llama 3) in a GGUF that does not add one keeps it in the TEMPLATE."""
    bos = getattr(tokenizer, "bos_token_id", None)
    starts_with_bos = bos is not None and student_prompt(tokenizer, task, "x")[:1] == [bos]
    adds = llama_adds_bos(path)
    if starts_with_bos or not adds:
        return None, starts_with_bos and not adds
    gguf = require("gguf", "gguf", "llama")
    reader = gguf.GGUFReader(str(path), "r+")
    field = reader.fields.get("tokenizer.ggml.add_bos_token")
    if field is None:
        raise DistillError(f"llama.cpp adds a BOS token to every prompt of {path.name}, which the "
                           "student never saw in training, and the file has no flag to turn it "
                           "off. Report this with the student's name.")
    field.parts[field.data[0]][0] = False
    reader.data.flush()  # the file is memory-mapped read-write
    return ("the GGUF's add_bos_token was turned off: the student's chat template writes no BOS "
            "token, so llama.cpp and Ollama must not add one"), False


def llama_adds_bos(path: Path) -> bool:
    """Does llama.cpp put a BOS token before a prompt it tokenises from this GGUF?"""
    llama_cpp = require("llama_cpp", "llama-cpp-python", "llama")
    with quiet_native_stderr():
        llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    try:
        return llm.tokenize(b"a", add_bos=True, special=True)[:1] == [llm.token_bos()]
    finally:
        llm.close()


def quantize(source: Path, target: Path, quant: str) -> Path:
    llama_cpp = require("llama_cpp", "llama-cpp-python", "llama")
    if quant not in QUANT_TYPES:
        raise UsageError(f"Unknown quantisation {quant!r}. Available: {', '.join(QUANT_TYPES)}.")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANT_TYPES[quant])
    params.nthread = os.cpu_count() or 1
    with quiet_native_stderr():
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params)
    if status != 0:
        raise DistillError(f"Quantising {source.name} to {quant} failed.")
    return target


def gguf_answers(path: Path, tokenizer: Any, task: Any, seeds: list[Seed],
                 max_new_tokens: int, decoding: str = "free",
                 json_schema: str | None = None) -> list[str]:
    """Answers from a GGUF, greedy or constrained to the task's choices, or greedy within the
    grammar llama.cpp makes of `json_schema`: the prompt tokens come from the same renderer and
    template."""
    llama_cpp = require("llama_cpp", "llama-cpp-python", "llama")
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from slm_distill.tools.llamacpp.grammar import grammar_greedy
    from slm_distill.tools.training.constrained import gguf_choose
    from slm_distill.tools.training.students import end_of_turn_id

    end_id = end_of_turn_id(tokenizer)
    prompts = [student_prompt(tokenizer, task, s.input) for s in seeds]
    n_ctx = max(len(p) for p in prompts) + max_new_tokens + 16
    constrained = decoding == "constrained"
    with quiet_native_stderr():
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, verbose=False, seed=0,
                              logits_all=constrained, n_threads=llama_threads(),
                              n_threads_batch=llama_threads())
    if constrained:
        try:
            return gguf_choose(llm, tokenizer, task, [s.input for s in seeds])
        finally:
            llm.close()
    gbnf = json_schema_to_gbnf(json_schema) if json_schema else None
    answers = []
    try:
        for tokens in prompts:
            out = (grammar_greedy(llm, tokens, gbnf, end_id=end_id, max_new_tokens=max_new_tokens)
                   if gbnf else greedy_tokens(llm, tokens, end_id, max_new_tokens))
            answers.append(task.extract(tokenizer.decode(out, skip_special_tokens=True)))
    finally:
        llm.close()
    return answers


def greedy_tokens(llm: Any, prompt: list[int], end_id: int, max_new_tokens: int,
                  grammar: Any = None) -> list[int]:
    """llama-cpp-python's own greedy decoding (within a `LlamaGrammar` when given), without the
    end token."""
    out: list[int] = []
    for token in llm.generate(prompt, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0,
                              reset=True, grammar=grammar):
        if token == end_id or len(out) >= max_new_tokens:
            break
        out.append(token)
    return out


def _quant_result(quant: str, path: Path, answers: list[str], hf: list[str], seeds: list[Seed],
                  task: Any, hf_acc: Interval, margin: float, min_agreement: float) -> QuantResult:
    acc = accuracy(task, answers, seeds)
    delta = (acc.accuracy - hf_acc.accuracy) * 100
    agreement = sum(a == b for a, b in zip(answers, hf, strict=True)) / max(1, len(hf))
    note, recommended = "", True
    if quant == "f16" and acc.correct != hf_acc.correct:
        note, recommended = "ERROR: f16 disagrees with the HF model (template/tokenizer mismatch)", False
    elif -delta > margin:
        note, recommended = f"loses {-delta:.1f} points (> {margin:g}): not recommended", False
    elif agreement < min_agreement:  # the primary metric alone misses changes it does not count
        note, recommended = (f"only {agreement:.0%} of its answers are the HF model's "
                             f"(< {min_agreement:.0%}): not recommended"), False
    return QuantResult(quant=quant, file=path.name, size_mb=path.stat().st_size / 2**20,
                       accuracy=acc, agreement=agreement, delta_points=delta,
                       recommended=recommended, note=note)


def _with_grammar(result: QuantResult, path: Path, tokenizer: Any, task: Any, seeds: list[Seed],
                  max_new: int, decoding: str, json_schema: str) -> None:
    """The GGUF's score within the schema's grammar, or a note where llama.cpp cannot use it."""
    from slm_distill.tools.llamacpp.grammar import GrammarError

    try:
        result.with_grammar = accuracy(task, gguf_answers(
            path, tokenizer, task, seeds, max_new, decoding, json_schema), seeds)
    except (GrammarError, AssertionError, ValueError, KeyError) as exc:  # llama-cpp-python's converter
        note = (f"not measured within the grammar: {str(exc)[:200] or type(exc).__name__} "
                "(simplify the schema, e.g. [0-9] for \\d in patterns)")
        result.note = f"{result.note}; {note}" if result.note else note


def export_gguf(project: Project, *, quants: tuple[str, ...], margin_points: float,
                min_agreement: float, progress: ProgressFn = no_progress) -> ExportReport:
    """`quants` besides f16; a quantisation losing more than `margin_points`, or whose answers are
    the HF model's less often than `min_agreement`, is not recommended (the defaults are
    ExportRequest's)."""
    from slm_distill.tools.training.hf_generate import student_answers
    from slm_distill.tools.training.students import load_pretrained

    merged = project.require_trained()
    for q in quants:
        if q not in QUANT_TYPES:
            raise UsageError(f"Unknown quantisation {q!r}. Available: {', '.join(QUANT_TYPES)}.")
    out = project.path("exports")
    out.mkdir(exist_ok=True)
    name = project.config.name
    _, seeds = project.split()
    max_new = project.config.training.max_new_tokens
    task = project.task()
    try:
        decoding = decoding_of(project, task)
        progress(0, len(quants) + 2, "HF model answering the test split")
        model, tokenizer = load_pretrained(merged)
        hf = student_answers(model, tokenizer, task, [s.input for s in seeds], decoding=decoding,
                             max_new_tokens=max_new)
        hf_acc = accuracy(task, hf, seeds)
        del model
        progress(1, len(quants) + 2, "converting to GGUF f16")
        files = {"f16": convert_to_f16(merged, out / f"{name}-f16.gguf")}
        bos_note, keep_bos = match_bos(files["f16"], tokenizer, task)  # before quantising
        for q in quants:
            files[q] = quantize(files["f16"], out / f"{name}-{q}.gguf", q)
        results = []
        for i, (quant, path) in enumerate(files.items()):
            progress(2 + i, len(files) + 2, f"{quant} GGUF answering the test split")
            answers = gguf_answers(path, tokenizer, task, seeds, max_new, decoding)
            result = _quant_result(quant, path, answers, hf, seeds, task, hf_acc, margin_points,
                                   min_agreement)
            # a grammar of bare JSON would forbid the chat template's own tool-call form
            if (json_schema := task.grammar_schema()) and template_tools(tokenizer, task) is None:
                progress(2 + i, len(files) + 2, f"{quant} GGUF answering within the schema's grammar")
                _with_grammar(result, path, tokenizer, task, seeds, max_new, decoding, json_schema)
            results.append(result)
        verdict = _hold_back(project, results)
        extra = _write_extras(project, out, tokenizer, task, results, hf_acc, keep_bos)
    finally:
        task.close()
    report = ExportReport(
        model_name=name, hf_accuracy=hf_acc, margin_points=margin_points, results=results,
        parity_ok=results[0].accuracy.correct == hf_acc.correct, decoding=decoding,
        verdict=verdict, fixes=[bos_note] if bos_note else [],
        files={**{k: str(v.relative_to(project.root)) for k, v in files.items()}, **extra},
        provenance=provenance(project, [project.seeds_path]))
    save_report(project, "export", report)
    if not report.parity_ok:
        raise DistillError("The f16 GGUF does not score like the HF model: the exported template or "
                           "tokenizer differs from training. See reports/export.md.")
    return report


def _hold_back(project: Project, results: list[QuantResult]) -> str | None:
    """No file is recommended for shipping unless the evaluation's verdict is deploy: the
    verdict's decision (None: never evaluated)."""
    verdict, stale = latest_verdict(project), retrained_since_evaluation(project)
    if verdict is not None and verdict.decision == "deploy" and not stale:
        return verdict.decision
    why = ("the student was trained again after its evaluation" if stale
           else f"the evaluation's verdict is {verdict.decision}" if verdict is not None
           else "the student has not been evaluated")
    for result in results:
        if result.recommended:
            result.recommended = False
            result.note = f"{why}: not for shipping yet"
    return verdict.decision if verdict is not None and not stale else None


def _write_extras(project: Project, out: Path, tokenizer: Any, task: Any,
                  results: list[QuantResult], hf_acc: Interval,
                  keep_bos: bool = False) -> dict[str, str]:
    from slm_distill.tools.reporting.modelcard import choice_grammar, model_card, modelfile
    from slm_distill.tools.training.chat_format import ollama_template, stop_strings

    preference = ("q4_k_m", "q8_0", "q4_0", "f16")  # smallest first, among the recommended
    recommended = sorted((r for r in results if r.recommended),
                         key=lambda r: preference.index(r.quant))
    ship = (recommended[0] if recommended else results[0]).file
    system = student_system(tokenizer, task)
    (out / "Modelfile").write_text(modelfile(ship, system, project.config.training.max_new_tokens,
                                             ollama_template(tokenizer, keep_bos=keep_bos),
                                             stop_strings(tokenizer)))
    (out / "README.md").write_text(model_card(project, task, results, hf_acc))
    files = {"modelfile": "exports/Modelfile", "model_card": "exports/README.md"}
    if choices := task.choices():
        (out / "labels.gbnf").write_text(choice_grammar(choices))
        files["grammar"] = "exports/labels.gbnf"
    if json_schema := task.grammar_schema():
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        (out / "output_schema.json").write_text(json_schema + "\n")
        files["schema"] = "exports/output_schema.json"
        try:
            (out / "output_schema.gbnf").write_text(json_schema_to_gbnf(json_schema))
            files["grammar"] = "exports/output_schema.gbnf"
        except (AssertionError, ValueError, KeyError):  # the converter cannot read the schema
            pass
    for filename, text in task.export_files().items():
        (out / filename).write_text(text, encoding="utf-8")
        files[Path(filename).stem] = f"exports/{filename}"
    adapter = project.path("runs", "student", "adapter")
    if adapter.is_dir():
        shutil.copytree(adapter, out / "adapter", dirs_exist_ok=True)
        files["adapter"] = "exports/adapter"
    return files

