"""Runtime LoRA adapters on a running vLLM server.

The server must run with ``--enable-lora`` and
``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``, as :class:`serving.ModelServer` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from serving._errors import AdapterError, ModelServerError
from serving._http import error_message, root_url


def load_adapter(base_url: str, name: str, path: str | Path, *, replace: bool = False) -> None:
    """Load a LoRA adapter into a running vLLM server under ``name``.

    Requests with ``"model": name`` are then answered with the adapter applied.

    Args:
        base_url: The server's OpenAI base URL or root.
        name: Adapter name clients will send as ``model``.
        path: Adapter directory (PEFT ``save_pretrained`` output) as the server sees it.
        replace: Reload an adapter already loaded under ``name`` (vLLM ``load_inplace``).

    Raises:
        AdapterError: The server refused, with its own message.
        ModelServerError: The server could not be reached.
    """
    local = Path(path).expanduser()
    # The server resolves relative paths against its own working directory.
    lora_path = str(local.resolve()) if local.exists() else str(path)
    body = {"lora_name": name, "lora_path": lora_path, "load_inplace": replace}
    _post_adapter(base_url, "load_lora_adapter", body, f"load LoRA adapter {name!r} from {path}")


def unload_adapter(base_url: str, name: str) -> None:
    """Unload the LoRA adapter ``name`` from a running vLLM server.

    Raises:
        AdapterError: The server refused (e.g. no such adapter), with its message.
        ModelServerError: The server could not be reached.
    """
    _post_adapter(
        base_url, "unload_lora_adapter", {"lora_name": name}, f"unload LoRA adapter {name!r}"
    )


def _post_adapter(base_url: str, endpoint: str, body: dict[str, Any], action: str) -> None:
    url = f"{root_url(base_url)}/v1/{endpoint}"
    try:
        # Loading reads the adapter from disk and warms it up in the engine.
        response = httpx.post(url, json=body, timeout=120.0)
    except httpx.HTTPError as exc:
        raise ModelServerError(f"cannot {action}: {url} unreachable ({exc})") from exc
    if response.status_code == 200:
        return
    if response.status_code == 404 and "error" not in response.text:
        raise AdapterError(
            f"cannot {action}: {url} not found; start vLLM with --enable-lora and "
            "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True (ModelServer does both)"
        )
    raise AdapterError(f"cannot {action}: {error_message(response)} (HTTP {response.status_code})")
