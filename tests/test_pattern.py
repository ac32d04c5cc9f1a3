"""model.decoding.pattern: anything outside the digit-pattern syntax is a one-line error."""

import re

import pytest

from model.decoding.pattern import parse
from tables import PATTERN_SYNTAX_ERRORS


@pytest.mark.parametrize(("pattern", "message"), PATTERN_SYNTAX_ERRORS)
def test_unsupported_syntax_is_a_clear_error(pattern, message):
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        parse(pattern)
    assert "\n" not in str(err.value)
    assert repr(pattern) in str(err.value)
