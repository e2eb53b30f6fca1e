"""Small records for the launch path: equality, hashing and repr from ``__slots__``.

``dataclasses`` and ``typing.NamedTuple`` would write these, but importing either costs the
launch path more than its own work under the test bed's emulation (``bench/launch.py``). A
record names its fields in ``__slots__`` and takes them, typed, in its own ``__init__``.
"""

from __future__ import annotations


class Record:
    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Record)
            and type(self) is type(other)
            and self._values() == other._values()
        )

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"
