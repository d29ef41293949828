"""Local model serving: a tiny offline model and a managed vLLM server.

Heavy libraries (torch, transformers, vLLM) are imported only when a model is
built or a server's dtype is resolved, so importing this package is cheap.
"""

from serving._errors import (
    AdapterError,
    ModelBuildError,
    ModelServerError,
    ServerStartError,
    ServingError,
)
from serving._http import is_healthy, root_url
from serving.adapters import load_adapter, unload_adapter
from serving.server import ModelServer
from serving.tiny import build_tiny_model

__all__ = [
    "AdapterError",
    "ModelBuildError",
    "ModelServer",
    "ModelServerError",
    "ServerStartError",
    "ServingError",
    "build_tiny_model",
    "is_healthy",
    "load_adapter",
    "root_url",
    "unload_adapter",
]
