"""The service's settings are faultdx's one settings class (every ``FAULTDX_*`` variable)."""

from faultdx.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
