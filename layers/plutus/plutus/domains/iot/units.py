"""Parsing of sensor readings as devices send them (``215°F``, ``42%``, ``38.5 L``) into canonical units.

Pure functions: every one raises ``ValueError`` with a message that never repeats the input.
"""

from __future__ import annotations

import math
import re

_NUMBER = r"(?P<value>[-+]?\d+(?:\.\d+)?)"
_TEMPERATURE = re.compile(_NUMBER + r"\s*(?:°|º|deg)?\s*(?P<unit>[a-z]*)", re.IGNORECASE)
_FUEL = re.compile(_NUMBER + r"\s*(?P<unit>%|[a-z]*)", re.IGNORECASE)

TEMPERATURE_UNITS = {
    "c": "C",
    "celsius": "C",
    "f": "F",
    "fahrenheit": "F",
    "k": "K",
    "kelvin": "K",
}
FUEL_UNITS = {
    "%": "percent",
    "pct": "percent",
    "percent": "percent",
    "fraction": "fraction",
    "ratio": "fraction",
    "l": "litres",
    "litre": "litres",
    "litres": "litres",
    "liter": "litres",
    "liters": "litres",
    "gal": "gallons",
    "gallon": "gallons",
    "gallons": "gallons",
}
US_GALLON_LITRES = 3.785411784


def split_reading(reading: str, name: str) -> str:
    """The value part of a ``name:value`` reading (``engine_temperature:215°F`` -> ``215°F``)."""
    prefix, sep, value = reading.partition(":")
    if not sep or prefix.strip() != name or not value.strip():
        raise ValueError(f"expected '{name}:<value>'")
    return value.strip()


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def to_celsius(value: float, unit: str) -> float:
    """``value`` in ``unit`` (C, F or K) as degrees Celsius."""
    if unit == "F":
        return (value - 32) * 5 / 9
    if unit == "K":
        return value - 273.15
    if unit == "C":
        return value
    raise ValueError("unit must be C, F or K")


def parse_temperature(raw: object, default_unit: str = "C") -> float:
    """A temperature as a number (in ``default_unit``) or a string with its unit, in degrees Celsius."""
    if isinstance(raw, bool):
        raise ValueError("must be a number or a string such as '215°F'")
    if isinstance(raw, int | float):
        return round(to_celsius(_finite(float(raw)), default_unit), 2)
    if not isinstance(raw, str):
        raise ValueError("must be a number or a string such as '215°F'")
    match = _TEMPERATURE.fullmatch(raw.strip())
    if match is None:
        raise ValueError("must be a number with an optional unit, such as '215°F' or '101.5 C'")
    unit_text = match["unit"].lower()
    unit = TEMPERATURE_UNITS.get(unit_text) if unit_text else default_unit
    if unit is None:
        raise ValueError("unit must be C, F or K")
    return round(to_celsius(_finite(float(match["value"])), unit), 2)


def to_percent(value: float, unit: str, tank_capacity_l: float | None) -> float:
    """A fuel quantity in ``unit`` as a percentage of the tank."""
    if unit == "percent":
        return value
    if unit == "fraction":
        return value * 100
    if unit in ("litres", "gallons"):
        if not tank_capacity_l:
            raise ValueError("a volume needs tank_capacity_l")
        litres = value * US_GALLON_LITRES if unit == "gallons" else value
        return litres / tank_capacity_l * 100
    raise ValueError("unit must be percent, fraction, litres or gallons")


def parse_fuel_level(
    raw: object, default_unit: str = "percent", tank_capacity_l: float | None = None
) -> float:
    """A fuel level as a number (in ``default_unit``) or a string with its unit, as a percentage (0-100)."""
    if isinstance(raw, bool):
        raise ValueError("must be a number or a string such as '42%'")
    if isinstance(raw, int | float):
        value, unit = _finite(float(raw)), default_unit
    elif isinstance(raw, str):
        match = _FUEL.fullmatch(raw.strip())
        if match is None:
            raise ValueError("must be a number with an optional unit, such as '42%' or '38.5 L'")
        unit_text = match["unit"].lower()
        found = FUEL_UNITS.get(unit_text) if unit_text else default_unit
        if found is None:
            raise ValueError("unit must be %, fraction, L or gal")
        value, unit = _finite(float(match["value"])), found
    else:
        raise ValueError("must be a number or a string such as '42%'")
    percent = round(to_percent(value, unit, tank_capacity_l), 2)
    if not 0 <= percent <= 100:
        raise ValueError("must be between 0 and 100 percent of the tank")
    return percent
