"""Write a tiny random Qwen2-architecture GGUF on the real Qwen2 vocabulary, for llama.cpp tests.

The tokenizer (tokens, merges, special ids) and chat template come from the vocab-only GGUF in
llama-cpp-python's sources (slm_distill.tools.llamacpp.vendor); the weights are random and small, so the
model loads in llama.cpp in a second and produces (meaningless) tokens.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from slm_distill.tools.llamacpp.vendor import vendor_file

HIDDEN, FFN, HEADS, KV_HEADS, CONTEXT = 64, 128, 4, 2, 1024


def write_tiny_qwen2_gguf(path: Path, seed: int = 0) -> Path:
    import gguf

    vocab = gguf.GGUFReader(str(vendor_file("models/ggml-vocab-qwen2.gguf")))
    tokens = vocab.fields["tokenizer.ggml.tokens"].contents()
    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_block_count(1)
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(HIDDEN)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_freq_base(1_000_000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(vocab.fields["tokenizer.ggml.token_type"].contents())
    writer.add_token_merges(vocab.fields["tokenizer.ggml.merges"].contents())
    writer.add_eos_token_id(151645)  # <|im_end|>
    writer.add_bos_token_id(151643)
    writer.add_pad_token_id(151643)
    writer.add_chat_template(vocab.fields["tokenizer.chat_template"].contents())
    rng = np.random.default_rng(seed)

    def add(name: str, *shape: int, scale: float = 0.02, ones: bool = False) -> None:
        data = np.ones(shape) if ones else rng.normal(0, scale, size=shape)
        dtype = np.float32 if len(shape) == 1 else np.float16
        writer.add_tensor(name, data.astype(dtype))

    head_dim = HIDDEN // HEADS
    add("token_embd.weight", len(tokens), HIDDEN)
    add("blk.0.attn_norm.weight", HIDDEN, ones=True)
    add("blk.0.attn_q.weight", HIDDEN, HIDDEN)
    add("blk.0.attn_q.bias", HIDDEN)
    add("blk.0.attn_k.weight", KV_HEADS * head_dim, HIDDEN)
    add("blk.0.attn_k.bias", KV_HEADS * head_dim)
    add("blk.0.attn_v.weight", KV_HEADS * head_dim, HIDDEN)
    add("blk.0.attn_v.bias", KV_HEADS * head_dim)
    add("blk.0.attn_output.weight", HIDDEN, HIDDEN)
    add("blk.0.ffn_norm.weight", HIDDEN, ones=True)
    add("blk.0.ffn_gate.weight", FFN, HIDDEN)
    add("blk.0.ffn_up.weight", FFN, HIDDEN)
    add("blk.0.ffn_down.weight", HIDDEN, FFN)
    add("output_norm.weight", HIDDEN, ones=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
