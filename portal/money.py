"""Money is an integer number of minor units (pence, cents) plus a currency code."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$", "CAD": "CA$", "AUD": "A$", "NZD": "NZ$", "CHF": "CHF ", "ZAR": "R", "INR": "₹", "KES": "KSh "}
CURRENCIES = sorted(SYMBOLS)


class MoneyError(ValueError):
    pass


def parse_amount(text: str | None) -> int:
    """'1,234.50' -> 123450. Refuses negatives, more than two decimals and nonsense."""
    cleaned = (text or "").strip().replace(",", "")
    for symbol in SYMBOLS.values():
        cleaned = cleaned.replace(symbol.strip(), "")
    cleaned = cleaned.strip()
    if not cleaned:
        raise MoneyError("Enter an amount.")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise MoneyError("Enter an amount such as 25 or 12.50.") from exc
    if not value.is_finite():
        raise MoneyError("Enter an amount such as 25 or 12.50.")
    if value <= 0:
        raise MoneyError("The amount must be more than zero.")
    if value.as_tuple().exponent < -2:
        raise MoneyError("Use at most two decimal places.")
    if value > Decimal("100000000"):
        raise MoneyError("That amount is too large.")
    return int(value * 100)


def format_money(minor: int | None, currency: str = "GBP", *, whole: bool = False) -> str:
    minor = minor or 0
    sign = "-" if minor < 0 else ""
    units, cents = divmod(abs(minor), 100)
    symbol = SYMBOLS.get(currency, currency + " ")
    if whole:
        return f"{sign}{symbol}{units + (1 if cents >= 50 else 0):,}"
    return f"{sign}{symbol}{units:,}.{cents:02d}"


def minor_to_input(minor: int | None) -> str:
    if minor is None:
        return ""
    units, cents = divmod(minor, 100)
    return f"{units}.{cents:02d}" if cents else str(units)
