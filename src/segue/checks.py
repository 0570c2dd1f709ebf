"""Argument checks shared by the settings dataclasses and the public API.

Every check raises before any work starts, with a message that names the setting, says what is
allowed and shows what was given: ``TypeError`` for a value of the wrong kind (``lr='abc'``),
``ValueError`` for a value of the right kind outside its range (``epochs=-1``). Booleans are not
accepted where numbers are expected: ``True`` is an ``int`` to Python, never a count to a user.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin


def _kind(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def is_integer(value: object) -> bool:
    """True for ints and numpy integers, False for bools.

    >>> is_integer(3), is_integer(True), is_integer(3.0)
    (True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """True for real numbers (ints and floats, numpy's too), False for bools.

    >>> is_number(0.5), is_number(2), is_number("1e-3"), is_number(False)
    (True, True, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_integer(name: str, value: object, *, minimum: int | None = None) -> int:
    """``value`` as an int, or a ``TypeError`` / ``ValueError`` naming ``name``.

    >>> check_integer("k", 5, minimum=1)
    5
    >>> check_integer("k", 1.5, minimum=1)
    Traceback (most recent call last):
    TypeError: k must be an integer >= 1, got 1.5 (float)
    >>> check_integer("k", 0, minimum=1)
    Traceback (most recent call last):
    ValueError: k must be an integer >= 1, got 0
    """
    bound = "" if minimum is None else f" >= {minimum}"
    if not is_integer(value):
        raise TypeError(f"{name} must be an integer{bound}, got {_kind(value)}")
    number = int(value)  # type: ignore[call-overload]
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be an integer{bound}, got {number}")
    return number


def check_number(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float within the bounds, or an error naming ``name``.

    >>> check_number("lr", 1e-3, low=0, low_open=True)
    0.001
    >>> check_number("dropout", 1.0, low=0, high=1, high_open=True)
    Traceback (most recent call last):
    ValueError: dropout must be a number in [0, 1), got 1.0
    >>> check_number("temperature", float("nan"), low=0, low_open=True)
    Traceback (most recent call last):
    ValueError: temperature must be a finite number > 0, got nan
    """
    allowed = _range_text(low, high, low_open, high_open)
    if not is_number(value):
        raise TypeError(f"{name} must be a number{allowed}, got {_kind(value)}")
    number = float(value)  # type: ignore[arg-type]
    below = low is not None and (number <= low if low_open else number < low)
    above = high is not None and (number >= high if high_open else number > high)
    if not math.isfinite(number) or below or above:
        finite = "" if math.isfinite(number) else " finite"
        raise ValueError(f"{name} must be a{finite} number{allowed}, got {number}")
    return number


def _range_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high:g}"
    return ""


def check_cut_offs(name: str, values: object) -> list[int]:
    """Metric cut-offs: a non-empty list (or tuple) of integers >= 1, as a list.

    >>> check_cut_offs("ks", (10, 20))
    [10, 20]
    >>> check_cut_offs("ks", 10)
    Traceback (most recent call last):
    TypeError: ks must be a non-empty list of integers >= 1, got 10
    """
    if not isinstance(values, list | tuple) or not values:
        raise TypeError(f"{name} must be a non-empty list of integers >= 1, got {values!r:.60}")
    return [check_integer(name, k, minimum=1) for k in values]


def check_flag(name: str, value: object, *, optional: bool = False) -> bool | None:
    """``value`` if it is True or False (or None, when ``optional``), else a ``TypeError``:
    ``"maybe"`` or ``1`` would otherwise pass as true.

    >>> check_flag("exclude_seen", "maybe")
    Traceback (most recent call last):
    TypeError: exclude_seen must be true or false, got 'maybe'
    """
    if isinstance(value, bool) or (optional and value is None):
        return value
    either = "true, false or null" if optional else "true or false"
    raise TypeError(f"{name} must be {either}, got {value!r:.60}")


def check_choice(name: str, value: object, allowed: typing.Iterable[object]) -> Any:
    """``value`` if it is one of ``allowed``, else a ``ValueError`` listing them.

    >>> check_choice("split", "random", ["leave_last_out", "global_temporal"])
    Traceback (most recent call last):
    ValueError: split must be one of ['leave_last_out', 'global_temporal'], got 'random'
    """
    options = list(allowed)
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def check_field_types(settings: object) -> None:
    """Check each field of a dataclass instance against its type hint.

    Understood hints: ``int``, ``float``, ``bool``, ``str``, ``None``, ``Literal[...]`` and unions
    of them; fields with other hints (tensors, generators...) are left to their own checks. An
    ``int`` is accepted for a ``float``.

    Raises:
        TypeError: Naming the first field whose value has the wrong type.
        ValueError: For a ``Literal`` field holding a value outside its choices.
    """
    hints = typing.get_type_hints(type(settings))
    for field in dataclasses.fields(settings):  # type: ignore[arg-type]
        value = getattr(settings, field.name)
        options = _flatten(hints[field.name])
        literals = [o for o in options if isinstance(o, _LiteralValues)]
        plain = [o for o in options if not isinstance(o, _LiteralValues)]
        if any(o not in _CHECKED for o in plain):
            continue
        if any(_matches(value, o) for o in plain):
            continue
        choices = [v for lit in literals for v in lit.values]
        if literals and value in choices:
            continue
        wanted = [_CHECKED[o] for o in plain] + ([f"one of {choices}"] if choices else [])
        error = ValueError if literals and isinstance(value, str) else TypeError
        raise error(f"{field.name} must be {' or '.join(wanted)}, got {_kind(value)}")


class _LiteralValues:
    def __init__(self, values: tuple[object, ...]) -> None:
        self.values = values


_CHECKED: dict[object, str] = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
    type(None): "null",
}


def _flatten(hint: object) -> list[object]:
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return [o for arg in get_args(hint) for o in _flatten(arg)]
    if origin is Literal:
        return [_LiteralValues(get_args(hint))]
    return [hint]


def _matches(value: object, hint: object) -> bool:
    if hint is int:
        return is_integer(value)
    if hint is float:
        return is_number(value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is type(None):
        return value is None
    return isinstance(value, hint)  # type: ignore[arg-type]
