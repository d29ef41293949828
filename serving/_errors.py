"""Errors raised by the serving package.

ServingError
├── ModelBuildError       the tiny model cannot be built where asked
└── ModelServerError      the vLLM server process or its HTTP API
    ├── ServerStartError  the server exited, or was not healthy in time
    └── AdapterError      a LoRA adapter could not be loaded or unloaded
"""

from __future__ import annotations


class ServingError(Exception):
    """Base class of every error in ``serving``."""


class ModelBuildError(ServingError):
    """The tiny model cannot be built into the requested directory."""


class ModelServerError(ServingError):
    """The model server misbehaved or could not be reached."""


class ServerStartError(ModelServerError):
    """The server process exited during startup or did not become healthy in time."""


class AdapterError(ModelServerError):
    """The server refused to load or unload a LoRA adapter."""
