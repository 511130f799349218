"""What a student's own chat template says about its turns, for any model family: the token that
ends an assistant turn, the stop strings, and the Ollama TEMPLATE that renders a system + user
prompt exactly as the HF template does (Qwen's ChatML, Llama 3's headers, Phi-3's tags, ...).

The template is read by rendering it with placeholder messages, not from a table of families, so
a student whose template is new to us gets the right Modelfile too:

    end_id = end_of_turn_id(tokenizer)      # <|im_end|>, <|eot_id|>, <|end|>, <end_of_turn>...
    template, stops = ollama_template(tokenizer)
"""

from __future__ import annotations

from typing import Any

SYSTEM, PROMPT, ANSWER = "@@SYSTEM@@", "@@PROMPT@@", "@@ANSWER@@"  # survive `| trim`
# Templates that print today's date (Llama 3.x) get a fixed one, so that training, evaluation,
# the GGUF and the Modelfile see the same prompt whatever the day; Qwen3 answers without thinking
# (its prompt ends in an empty think block, in training and at inference alike).
TEMPLATE_KWARGS = {"date_string": "26 Jul 2024", "enable_thinking": False}


def render(tokenizer: Any, messages: list[dict], *, generation: bool = True) -> str:
    return tokenizer.apply_chat_template(messages, add_generation_prompt=generation,
                                         tokenize=False, **TEMPLATE_KWARGS)


def end_of_turn_text(tokenizer: Any) -> str:
    """What the template writes right after an assistant answer ('<|im_end|>\\n' for Qwen)."""
    user = {"role": "user", "content": PROMPT}
    full = render(tokenizer, [user, {"role": "assistant", "content": ANSWER}], generation=False)
    return full.split(ANSWER, 1)[1] if ANSWER in full else ""


def end_of_turn_id(tokenizer: Any) -> int:
    """The token that ends an assistant turn in the student's chat template: the first token the
    template writes after the answer (the tokenizer's EOS when it writes nothing special)."""
    after = end_of_turn_text(tokenizer).strip()
    vocab = tokenizer.get_vocab()
    if after:
        for token in sorted(tokenizer.all_special_tokens, key=len, reverse=True):
            if after.startswith(token) and token in vocab:
                return vocab[token]
        ids = tokenizer.encode(after, add_special_tokens=False)
        if ids:
            return ids[0]
    return tokenizer.eos_token_id


def stop_strings(tokenizer: Any) -> list[str]:
    """Where Ollama must stop: the end-of-turn token, and the EOS token when it differs."""
    end = tokenizer.convert_ids_to_tokens(end_of_turn_id(tokenizer))
    eos = tokenizer.eos_token
    return [end, *([eos] if eos and eos != end else [])]


def ollama_template(tokenizer: Any, *, keep_bos: bool = False) -> str:
    """The Modelfile TEMPLATE (Ollama's Go template) for one optional system message and one
    user prompt, made from the HF chat template's own rendering. A leading BOS token is left out
    (llama.cpp adds it when it tokenises the prompt) unless `keep_bos`: a GGUF that does not."""
    user = {"role": "user", "content": PROMPT}
    bare = _go(tokenizer, render(tokenizer, [user]), keep_bos)
    try:
        with_system = render(tokenizer, [{"role": "system", "content": SYSTEM}, user])
    except Exception:  # noqa: BLE001 - templates that refuse a system role (Gemma 2) raise
        return bare
    if SYSTEM not in with_system:
        return bare
    return ("{{ if .System }}" + _go(tokenizer, with_system, keep_bos) + "{{ else }}" + bare
            + "{{ end }}")


def _go(tokenizer: Any, text: str, keep_bos: bool = False) -> str:
    bos = getattr(tokenizer, "bos_token", None)
    if bos and text.startswith(bos) and not keep_bos:
        text = text[len(bos):]
    return text.replace(SYSTEM, "{{ .System }}").replace(PROMPT, "{{ .Prompt }}")
