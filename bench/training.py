"""Training and generation throughput on whatever device is present (CUDA in bf16 when there is one).

Prints figures; asserts nothing. Uses the prepared models when they are there, else a randomly
initialised model of the same architecture (multilingual-e5-small's BERT, SmolLM2-135M's Llama),
so the figures mean the same on a machine without the weights:
    .venv/bin/python bench/training.py [--device auto|cpu|cuda] [--steps 5] [--tokens 64]
    .venv/bin/python bench/training.py --random-init      # always the random-init architectures

Training: samples/s of the real trainers' step (the libraries' trainers: forward, loss, backward,
AdamW) for the intent encoder (few-shot triplet loss over label groups), the retriever (contrastive,
query + positive + hard negative), the reranker (cross-encoder, groups of 4) and the generator
(causal LM with LoRA, loss on the reply). Generation:
new tokens/s single stream and batched (every batch forced to the full length).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant.model_preparation import resolve_model
from assistant.schema import ModelRole
from assistant.settings import load_settings

QUERY = "How long do I have to return a pair of running shoes I bought last week?"
PASSAGE = (
    "Returns are free within 30 days of delivery for unworn items with their tags. Refunds reach the original "
    "payment method within 5 to 7 business days after the parcel arrives at our warehouse."
)
# A grounded prompt of the length the pipeline builds (system + facts + history + message).
PROMPT = (
    "You are a friendly customer-service assistant of an online shop. Rewrite the answer below for the customer "
    "in your own words, in one to three sentences. Keep every number exactly as written.\n\nAnswer: " + PASSAGE +
    "\n\nFacts:\n- Policy: " + PASSAGE + "\n- Policy: " + PASSAGE
)  # fmt: skip
REPLY = "You can return them within 30 days of delivery; the refund takes 5 to 7 business days."


def e5_small_config() -> Any:
    from transformers import BertConfig

    return BertConfig(vocab_size=250037, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
                      intermediate_size=1536, max_position_embeddings=512, type_vocab_size=2)  # fmt: skip


def smollm2_135m_config() -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                       num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
                       rope_theta=100000.0, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
                       pad_token_id=2)  # fmt: skip


def word_level_tokenizer(size: int, **special: str) -> Any:
    """A whitespace word-level tokenizer of `size` ids (the special tokens first), for when no real
    tokenizer is on the machine: the token ids then cover the whole embedding matrix."""
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers import models as tok_models
    from transformers import PreTrainedTokenizerFast

    names = list(dict.fromkeys(special.values()))
    vocab = {name: i for i, name in enumerate(names)} | {f"w{i}": i for i in range(len(names), size)}
    raw = Tokenizer(tok_models.WordLevel(vocab, unk_token=special.get("unk_token", names[0])))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=raw, **special)


def embedder_folder(settings: Any, random_init: bool, scratch: Path) -> tuple[str, str]:
    """A sentence-transformers folder and a plain transformers folder of the embedder architecture."""
    location = resolve_model(ModelRole.EMBEDDER, settings.paths, settings.models)
    if location.is_local and location.is_ready and not random_init:
        return location.reference, location.reference
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, BertModel

    hf = scratch / "e5-random"
    BertModel(e5_small_config()).save_pretrained(hf)
    tokenizer_source = location.reference if location.is_local and location.is_ready else None
    if tokenizer_source is None:  # no tokenizer either: a word-level one over the same vocabulary size
        word_level_tokenizer(250004, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                             sep_token="[SEP]").save_pretrained(hf)  # fmt: skip
    else:
        AutoTokenizer.from_pretrained(tokenizer_source).save_pretrained(hf)
    st = SentenceTransformer(
        modules=[models.Transformer(str(hf)), models.Pooling(384, "mean"), models.Normalize()]
    )
    st.save(str(scratch / "e5-random-st"))
    return str(scratch / "e5-random-st"), str(hf)


def generator_folder(settings: Any, random_init: bool, scratch: Path) -> str:
    location = resolve_model(ModelRole.GENERATOR, settings.paths, settings.models)
    if location.is_local and location.is_ready and not random_init:
        return location.reference
    from transformers import LlamaForCausalLM

    folder = scratch / "smollm2-random"
    LlamaForCausalLM(smollm2_135m_config()).save_pretrained(folder)
    if location.is_local and location.is_ready:
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(location.reference).save_pretrained(folder)
    else:
        tokenizer = word_level_tokenizer(
            49152, pad_token="<pad>", bos_token="<|im_start|>", eos_token="<|im_end|>", unk_token="<unk>"
        )  # bos 1, eos 2 as in the config
        tokenizer.chat_template = (
            "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
        )
        tokenizer.save_pretrained(folder)
    return str(folder)


def timed_training(name: str, run: Any, samples: int, steps: int) -> None:
    """`run(work_dir, stop_after_steps, progress)` trains; the rate is taken between the end of the first
    step and the end of the last, so loading and the first (warm-up) step are not in the figure."""
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as work, contextlib.suppress(KeyboardInterrupt):
        run(Path(work), steps + 1, lambda step, total, loss: stamps.append(time.perf_counter()))
    seconds = stamps[-1] - stamps[0]
    print(
        f"{name:<38} {samples * steps / seconds:9.1f} samples/s   ({steps} steps of {samples}, {seconds:.1f} s)"
    )


def bench_training(
    device: str, st_folder: str, hf_folder: str, gen_folder: str, steps: int, batch: int
) -> None:
    from assistant.backends import encoder_training as et
    from assistant.backends.generator_training import fine_tune_causal_lm
    from assistant.backends.text_generation import TransformersTextGenerator
    from assistant.schema import ChatMessage

    queries = [f"{QUERY} ({i})" for i in range(batch * (steps + 2))]
    common = dict(
        epochs=1.0, batch_size=batch, device=device, eval_every=10_000
    )  # no checkpoint in the timing

    def intent(work: Path, stop: int, progress: Any) -> None:
        et.fine_tune_encoder_few_shot(st_folder, queries, [i % 8 for i in range(len(queries))], work_dir=work,
                                      stop_after_steps=stop, progress=progress, **common)  # fmt: skip

    def retriever(work: Path, stop: int, progress: Any) -> None:
        et.fine_tune_encoder_contrastive(st_folder, queries, [PASSAGE] * len(queries), [PASSAGE[::-1]] * len(queries),
                                         work_dir=work, stop_after_steps=stop, progress=progress, **common)  # fmt: skip

    def reranker(work: Path, stop: int, progress: Any) -> None:
        et.fine_tune_cross_encoder(hf_folder, queries, [[PASSAGE, PASSAGE[::-1], PASSAGE[:80], PASSAGE[80:]]] *
                                   len(queries), work_dir=work, stop_after_steps=stop, progress=progress, **common)  # fmt: skip

    renderer = TransformersTextGenerator(gen_folder, device=device)
    prompt = renderer.render_prompt([ChatMessage("system", PROMPT), ChatMessage("user", QUERY)])
    del renderer

    def generator(layers: int | None) -> Any:
        def run(work: Path, stop: int, progress: Any) -> None:
            fine_tune_causal_lm(gen_folder, [prompt] * len(queries), [REPLY] * len(queries), work_dir=work,
                                train_layers=layers, stop_after_steps=stop, progress=progress, **common)  # fmt: skip

        return run

    print(f"== training throughput ({device}, batch {batch}, bf16 autocast on CUDA)")
    timed_training("intent encoder (few-shot, triplets)", intent, batch, steps)
    timed_training("retriever (contrastive, 1 hard neg)", retriever, batch, steps)
    timed_training("reranker (cross-encoder, groups of 4)", reranker, batch, steps)
    timed_training("generator, LoRA on all layers", generator(None), batch, steps)
    timed_training("generator, LoRA on top 6 (CPU quick)", generator(6), batch, steps)


def bench_generation(device: str, gen_folder: str, tokens: int, batches: list[int]) -> None:
    import torch

    from assistant.backends.text_generation import TransformersTextGenerator
    from assistant.schema import ChatMessage

    generator = TransformersTextGenerator(gen_folder, device=device)
    generator.warm_up()
    model, tokenizer = generator.model, generator.tokenizer
    text = generator.render_prompt([ChatMessage("system", PROMPT), ChatMessage("user", QUERY)])
    print(f"== generation throughput ({generator.device}, {next(model.parameters()).dtype}, {tokens} new tokens "
          f"forced, prompt {len(tokenizer(text)['input_ids'])} tokens)")  # fmt: skip
    for batch in batches:
        inputs = tokenizer([text] * batch, return_tensors="pt", padding=True, add_special_tokens=False).to(
            generator.device
        )
        runs = []
        for attempt in range(3):
            started = time.perf_counter()
            with torch.inference_mode():
                model.generate(**inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                               pad_token_id=tokenizer.pad_token_id)  # fmt: skip
            if device == "cuda" or generator.device == "cuda":
                torch.cuda.synchronize()
            if attempt:  # the first run warms up
                runs.append(time.perf_counter() - started)
        seconds = statistics.median(runs)
        label = "single stream" if batch == 1 else f"batch {batch}"
        print(f"{label:<16} {batch * tokens / seconds:9.1f} tokens/s   ({seconds:.2f} s per call)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--steps", type=int, default=4, help="timed training steps per trainer")
    parser.add_argument(
        "--batch", type=int, default=None, help="training batch (default: 8 on CPU, 32 on CUDA)"
    )
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per generation call")
    parser.add_argument(
        "--random-init", action="store_true", help="random-init architectures even if weights exist"
    )
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()
    import torch

    from assistant.backends.device import resolve_device

    device = resolve_device(args.device)
    torch.set_num_threads(torch.get_num_threads())
    settings = load_settings()
    print(f"device {device}" + (f" ({torch.cuda.get_device_name(0)})" if device == "cuda" else
                                f" ({torch.get_num_threads()} threads)"))  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        st_folder, hf_folder = embedder_folder(settings, args.random_init, Path(scratch))
        gen_folder = generator_folder(settings, args.random_init, Path(scratch))
        print(f"embedder: {st_folder}\ngenerator: {gen_folder}")
        batches = [1, 4, 8] if device == "cpu" else [1, 8, 32, 64]
        bench_generation(device, gen_folder, args.tokens, batches)
        if not args.skip_training:
            bench_training(
                device,
                st_folder,
                hf_folder,
                gen_folder,
                args.steps,
                args.batch or (8 if device == "cpu" else 32),
            )


if __name__ == "__main__":
    main()
