"""Machine context: the shaft speed (given, bounded by a nominal value, or estimated from the signal with its
uncertainty) and the bearing, as the network and the envelope reference read them.

``machine`` holds the context and its checks; ``speed`` estimates the shaft speed from a signal.
"""

from faultdx.context.machine import (
    CONTEXT_FIELDS,
    ContextError,
    MachineContext,
    RpmRange,
    check_bearing,
    check_rpm,
    resolve_context,
)

__all__ = [
    "CONTEXT_FIELDS", "ContextError", "MachineContext", "RpmRange", "check_bearing", "check_rpm",
    "resolve_context",
]
