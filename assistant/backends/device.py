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
