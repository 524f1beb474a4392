import pytest

from portal.money import MoneyError, format_money, parse_amount


@pytest.mark.parametrize("text,minor", [("25", 2500), ("12.50", 1250), ("1,234.5", 123450), ("£7", 700), (" 0.01 ", 1)])
def test_parse_amount(text, minor):
    assert parse_amount(text) == minor


@pytest.mark.parametrize("text", ["", "abc", "-5", "0", "1.234", "nan", "inf", "1e9"])
def test_parse_amount_refuses_bad_input(text):
    with pytest.raises(MoneyError):
        parse_amount(text)


def test_format_money():
    assert format_money(123456, "GBP") == "£1,234.56"
    assert format_money(-500, "EUR") == "-€5.00"
    assert format_money(9950, "USD", whole=True) == "$100"
    assert format_money(None, "XYZ") == "XYZ 0.00"
