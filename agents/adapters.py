"""Which LoRA adapter answers a node: the interface the run engine is given.

The run engine does not know where adapters come from (the adapter registry
is in ``training/``, a layer above). Whoever starts a run — a worker, the CLI
— passes an :class:`AdapterSource`; without one every node is answered by the
base model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

__all__ = ["AdapterSource", "BaseModelOnly"]


class AdapterSource(Protocol):
    """Answers which adapter serves a tenant's nodes, and reloads one a server lost."""

    def active(self, tenant_id: str, workflow: str) -> Mapping[str, str]:
        """``{node: served_name}`` of the tenant's adapters for ``workflow``."""
        ...

    def reload(self, served_name: str, server_url: str) -> bool:
        """Load ``served_name`` into the server at ``server_url`` (it restarted).

        Returns:
            Whether the adapter exists and was loaded; the node then asks again.
        """
        ...


class BaseModelOnly:
    """No adapters: every node is answered by the base model."""

    def active(self, tenant_id: str, workflow: str) -> Mapping[str, str]:
        return {}

    def reload(self, served_name: str, server_url: str) -> bool:
        return False
