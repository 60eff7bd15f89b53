"""Convert a packaged GGUF causal LM (SmolLM2-135M-Instruct) into a safetensors model folder.

Loading from GGUF dequantises every tensor on each load (~40 s for SmolLM2 on 2 cores), and a
GGUF-loaded model refuses `save_pretrained`. So: load once from GGUF, copy its state dict into a
fresh `from_config` model, and save that; the folder then reloads in about a second.
"""

from __future__ import annotations

from pathlib import Path

from assistant.errors import ModelPreparationError


def convert_gguf_to_transformers(gguf_folder: Path, gguf_file: str, destination: Path) -> None:
    """Write a transformers folder (config, safetensors weights, tokenizer) to `destination`."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    if not (gguf_folder / gguf_file).is_file():
        raise ModelPreparationError(f"GGUF file not found: {gguf_folder / gguf_file}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_folder), gguf_file=gguf_file)
        gguf_model = AutoModelForCausalLM.from_pretrained(
            str(gguf_folder), gguf_file=gguf_file, dtype=torch.float32
        )
        config = AutoConfig.from_pretrained(str(gguf_folder), gguf_file=gguf_file)
    except (OSError, ValueError, ImportError) as exc:
        raise ModelPreparationError(f"could not read {gguf_folder / gguf_file}: {exc}") from exc
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    # Tied embeddings: lm_head.weight may be absent from the GGUF state dict by design.
    missing = [name for name in missing if name != "lm_head.weight"]
    if missing or unexpected:
        raise ModelPreparationError(
            f"GGUF weights do not fit {config.model_type}: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    model.generation_config = gguf_model.generation_config
    model.eval()
    model.save_pretrained(str(destination))
    tokenizer.save_pretrained(str(destination))
