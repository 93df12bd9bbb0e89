"""The algorithm registry: ``@register("name")`` on a class makes it ``algorithm=name``."""

from __future__ import annotations

from prl.errors import ConfigError

__all__ = ["REGISTRY", "register", "available", "get"]

#: name -> class; filled by the ``@register`` decorators of the method modules
REGISTRY: dict[str, type] = {}


def register(name: str):
    """Class decorator: make an algorithm available as ``algorithm=<name>`` (``conf/algorithm/<name>.yaml``)."""

    def deco(cls):
        if name in REGISTRY:
            raise ValueError(f"algorithm {name!r} registered twice")
        cls.name = name
        REGISTRY[name] = cls
        return cls

    return deco


def available() -> list[str]:
    """Registered names, sorted."""
    return sorted(REGISTRY)


def get(name: str) -> type:
    """The class registered as ``name``; :class:`ConfigError` naming ``algorithm.name`` and the
    registered names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"algorithm.name={name!r} is not a registered algorithm; allowed: {', '.join(available())}",
            "algorithm.name",
        ) from None
