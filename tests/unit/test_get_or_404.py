"""One get_or_404 for every page: a missing row and someone else's row look the same."""
import pytest
from werkzeug.exceptions import NotFound

from portal.giving.models import Gift
from portal.web import get_or_404
from tests.conftest import make_donor, make_gift

pytestmark = pytest.mark.usefixtures("ctx")


def test_a_row_is_found_only_for_its_owner():
    mine, theirs = make_donor(first_name="Mine"), make_donor(first_name="Theirs")
    gift = make_gift(mine.id)
    assert get_or_404(Gift, gift.id) is gift
    assert get_or_404(Gift, gift.id, donor_id=mine.id) is gift
    for ident, owner in ((gift.id, {"donor_id": theirs.id}), (gift.id + 1000, {}), ("1", {}), (None, {})):
        with pytest.raises(NotFound):
            get_or_404(Gift, ident, **owner)
