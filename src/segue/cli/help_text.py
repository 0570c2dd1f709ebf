"""Help texts read from the packaged configs: the config groups and the most used options.

The configs are composed only when help is actually printed (:class:`Parser`), so ``segue
info`` or ``segue export`` never pay for Hydra.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable
from typing import Any


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose epilog is computed when help is printed.

    Args:
        epilog_fn: Returns the epilog text; called at most once.
    """

    def __init__(self, *args: Any, epilog_fn: Callable[[], str] | None = None, **kwargs: Any):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        if kwargs.get("description"):  # raw formatting keeps the examples' layout: wrap here
            kwargs["description"] = textwrap.fill(kwargs["description"], width=90)
        super().__init__(*args, **kwargs)
        self._epilog_fn = epilog_fn

    def format_help(self) -> str:
        if self._epilog_fn is not None:
            extra, self._epilog_fn = self._epilog_fn(), None
            self.epilog = f"{self.epilog}\n\n{extra}" if self.epilog else extra
        return super().format_help()


def groups_text(config_name: str) -> str:
    """``config groups (GROUP=OPTION, * = default):`` and one line per group."""
    from segue.cli.configs import group_options

    try:
        groups = group_options(config_name)
    except Exception as error:  # help must print even when the configs are broken
        return f"config groups: unavailable ({type(error).__name__}: {error})"
    lines = ["config groups (GROUP=OPTION; * marks the default):"]
    for group, (options, default) in groups.items():
        shown = ", ".join(f"{o}*" if o == default else o for o in options)
        lines.append(f"  {group:<11} {shown}" + ("" if default else "   (default: none)"))
    return "\n".join(lines)


def options_text(config_name: str, options: list[tuple[str, str]]) -> str:
    """``most used options`` with their current values in the packaged config.

    Args:
        config_name: The config composed for the values (``train``, ``evaluate``).
        options: ``(key, what it does)`` pairs; a key absent from the composed config (set by
            only some groups, like ``data.path``) is shown without a value.
    """
    from omegaconf import OmegaConf

    from segue.cli.configs import compose_config

    try:
        cfg = compose_config(config_name, [])
    except Exception:  # the options still print, without their values
        cfg = None
    lines = ["most used options (KEY=VALUE; any key of the config can be set the same way):"]
    for key, what in options:
        value = None
        if cfg is not None:
            value = OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)
        shown = f"{key}={_value(value)}" if value is not None else f"{key}=..."
        if len(shown) > 34:  # a long value (a path) gets a line of its own
            lines += [f"  {shown}", f"  {'':<34} {what}"]
        else:
            lines.append(f"  {shown:<34} {what}")
    return "\n".join(lines)


def _value(value: object) -> str:
    """
    >>> _value([10, 20]), _value(True), _value("cpu")
    ('[10,20]', 'true', 'cpu')
    """
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return "[" + ",".join(_value(v) for v in value) + "]"  # type: ignore[attr-defined]
    return str(value)


def check_overrides(overrides: list[str]) -> list[str]:
    """The overrides, or a ``ValueError`` for an argument that is not ``KEY=VALUE``.

    >>> check_overrides(["trainer.epochs=5", "+data.columns.artist=a", "~model.d_ff"])
    ['trainer.epochs=5', '+data.columns.artist=a', '~model.d_ff']
    >>> check_overrides(["epochs"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 'epochs' is not a config override: write KEY=VALUE ...
    """
    for item in overrides:
        if "=" not in item and not item.startswith("~"):
            raise ValueError(
                f"{item!r} is not a config override: write KEY=VALUE (trainer.epochs=5) "
                "or GROUP=OPTION (data=movielens_100k)"
            )
    return overrides
