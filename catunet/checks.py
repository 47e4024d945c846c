"""Settings that check themselves: one rule a field, where it is defined.

A dataclass of settings (``TrainConfig``, ``inference.Settings``) lists a
rule for each field (``Whole``, ``Number``, ``Choice``, ``Text``) and calls
``check_fields`` from ``__post_init__``; a bad value raises
``SettingError`` naming the flag, the value and what is allowed::

    --epochs must be a whole number >= 1, got -3

so every door (the command line, a saved ``config.json``, the library)
refuses it the same way, before any data is read or any folder written.
"""

import dataclasses
import math

from catunet.errors import CatunetError


class SettingError(CatunetError):
    """A setting out of its range, of the wrong type, or in a combination
    that cannot work; the message names the flag."""


def flag(name):
    """The command-line flag of field ``name``: ``--fine-tune-learning-rate``."""
    return "--" + name.replace("_", "-")


@dataclasses.dataclass(frozen=True)
class Whole:
    """A whole number in ``[low, high]`` (``high`` None: no upper bound)."""

    low: int = 0
    high: int | None = None
    optional: bool = False

    def allows(self, value):
        if value is None:
            return self.optional
        return (isinstance(value, int) and not isinstance(value, bool)
                and value >= self.low
                and (self.high is None or value <= self.high))

    def allowed(self):
        bound = f">= {self.low}" + (f" and <= {self.high}"
                                    if self.high is not None else "")
        return f"a whole number {bound}" + (" (or unset)"
                                            if self.optional else "")


@dataclasses.dataclass(frozen=True)
class Number:
    """A finite number between ``low`` and ``high``; ``open`` names the
    ends left out (``"low"``, ``"high"``, ``"both"`` or ``""``)."""

    low: float = 0.0
    high: float | None = None
    open: str = ""
    optional: bool = False

    def allows(self, value):
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            return False
        above = value > self.low if self.open in ("low", "both") \
            else value >= self.low
        below = self.high is None or (
            value < self.high if self.open in ("high", "both")
            else value <= self.high)
        return above and below

    def allowed(self):
        left = "(" if self.open in ("low", "both") else "["
        if self.high is None:
            text = f"a number {'>' if left == '(' else '>='} {self.low:g}"
        else:
            right = ")" if self.open in ("high", "both") else "]"
            text = f"a number in {left}{self.low:g}, {self.high:g}{right}"
        return text + (" (or unset)" if self.optional else "")


@dataclasses.dataclass(frozen=True)
class Choice:
    """One of ``options``."""

    options: tuple
    optional: bool = False

    def allows(self, value):
        return (value is None and self.optional) or (
            isinstance(value, str) and value in self.options)

    def allowed(self):
        return "one of " + ", ".join(self.options)


@dataclasses.dataclass(frozen=True)
class Text:
    """Text (a path, a list, a spec), or unset when ``optional``; ``empty``
    allows the empty string."""

    optional: bool = True
    empty: bool = False

    def allows(self, value):
        if value is None:
            return self.optional
        return isinstance(value, str) and (self.empty or value != "")

    def allowed(self):
        return "text" + (" (or unset)" if self.optional else "") + (
            "" if self.empty else ", not empty")


@dataclasses.dataclass(frozen=True)
class Flag:
    """True or False."""

    def allows(self, value):
        return isinstance(value, bool)

    def allowed(self):
        return "true or false"


def check_fields(settings, rules):
    """Raises ``SettingError`` for the first field of ``settings`` whose
    value its rule refuses."""
    for name, rule in rules.items():
        value = getattr(settings, name)
        if not rule.allows(value):
            raise SettingError(f"{flag(name)} must be {rule.allowed()}, got "
                               f"{value!r}")


def refuse(condition, message):
    """Raises ``SettingError(message)`` when ``condition`` holds."""
    if condition:
        raise SettingError(message)
