"""A faster `__init__` for frozen, slotted dataclasses built once per segment.

The `__init__` dataclasses writes for a frozen class stores every field through
`object.__setattr__`, which costs several times a plain attribute store; segments, options and
events are made for every packet, so that cost shows. `fast_frozen_init` replaces it with one
that stores each field through its slot descriptor: the same fields, defaults and order (read
from `dataclasses.fields`, so they cannot drift), the instance still frozen afterwards.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def fast_frozen_init(cls: type[T]) -> type[T]:
    """Give the frozen slotted dataclass `cls` a descriptor-based `__init__` (see the module
    docstring). Only plain defaults are supported (no default_factory, no __post_init__)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a frozen slotted dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__")
    namespace: dict[str, object] = {}
    args: list[str] = []
    body: list[str] = []
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = field.name
        if field.default_factory is not dataclasses.MISSING or not field.init:
            raise TypeError(f"{cls.__name__}.{name}: only plain defaults are supported")
        if field.default is dataclasses.MISSING:
            args.append(name)
        else:
            namespace[f"_default_{name}"] = field.default
            args.append(f"{name}=_default_{name}")
        namespace[f"_set_{name}"] = cls.__dict__[name].__set__
        body.append(f"    _set_{name}(self, {name})\n")
    signature = "".join(f", {arg}" for arg in args)
    source = f"def __init__(self{signature}) -> None:\n{''.join(body) or '    pass'}\n"
    exec(source, namespace)  # the source is built above from the class's own field names
    init: Any = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    setattr(cls, "__init__", init)  # noqa: B010 - mypy rejects assigning to a method
    return cls
