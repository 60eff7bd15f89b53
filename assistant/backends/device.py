"""Pick the torch device and dtype for a `auto|cpu|cuda` setting."""

from __future__ import annotations

from assistant.errors import BackendError


def resolve_device(setting: str) -> str:
    """ "auto" -> "cuda" when a GPU is visible, else "cpu"; "cuda" without a GPU is an error."""
    if setting == "cpu":  # no need to import torch (seconds) to know that
        return setting
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        raise BackendError("models.device is 'cuda' but no CUDA GPU is visible; use 'auto' or 'cpu'")
    if setting not in ("cpu", "cuda"):
        raise BackendError(f"unknown device {setting!r}; choose auto, cpu or cuda")
    return setting


def dtype_for(device: str):  # -> torch.dtype
    """bf16 on CUDA (halves memory, fast on tensor cores); fp32 on CPU (bf16 is slow there)."""
    import torch

    return torch.bfloat16 if device == "cuda" else torch.float32


def page_in(model) -> None:  # model: torch.nn.Module
    """Read every weight once, so that the pages of a model that every request uses whole are resident
    before the first request rather than read from disk during it.

    safetensors maps weight files into memory and a page is read when first touched. For a generator
    (every layer, and the full vocabulary in its output layer, run for every token) that is all of it,
    on the first turn. Not for encoders: their large vocabulary tables are touched a row at a time, and
    reading rows that the shop's words never reach would only add resident memory."""
    import torch

    with torch.no_grad():
        for tensor in (*model.parameters(), *model.buffers()):
            if tensor.device.type == "cpu" and tensor.numel():
                tensor.reshape(-1)[:: max(1, 4096 // tensor.element_size())].sum()  # one element a page
