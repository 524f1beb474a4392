"""Wording donors and staff read: tier names in suggestion reasons, retention labels for any currency."""
from portal.insights.presenters import RETENTION_SERIES
from portal.kb.suggestions import tier_phrase


def test_a_tier_called_supporter_is_not_doubled():
    assert tier_phrase("Supporter") == "a Supporter"
    assert tier_phrase("Champion") == "a Champion supporter"
    assert tier_phrase("Ally") == "an Ally supporter"


def test_retention_by_value_names_no_currency():
    assert "Value retention" in RETENTION_SERIES
    assert not any("Dollar" in name for name in RETENTION_SERIES)
