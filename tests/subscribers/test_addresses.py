from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from subscribers.addresses import clean_address, normalize_email


@pytest.mark.parametrize(
    "address",
    [
        "ada@example.org",
        "Ada.Lovelace+papers@Example.ORG",
        "ada@bücher.de",
        "a@sub.domain.example",
    ],
)
def test_valid_addresses_are_kept_as_typed(address):
    assert clean_address(f"  {address} ") == address


@pytest.mark.parametrize(
    ("address", "code"),
    [
        pytest.param("", "required", id="empty"),
        pytest.param("ada", "invalid", id="no-at"),
        pytest.param("ada@localhost", "invalid", id="no-dot"),
        pytest.param(
            "ada@example.org\r\nBcc: all@example.org", "control", id="header-injection-crlf"
        ),
        pytest.param("ada@example.org\nBcc: x@y.org", "control", id="header-injection-lf"),
        pytest.param("ada@example.org\x00", "control", id="nul"),
        pytest.param("ada@example.org, bob@example.org", "control", id="two-addresses"),
        pytest.param("ada@example.org,bob@example.org", "not_plain", id="comma"),
        pytest.param('"ada"@example.org', "not_plain", id="quoted-local"),
        pytest.param("Ada <ada@example.org>", "control", id="display-name"),
        pytest.param("<ada@example.org>", "not_plain", id="angle-brackets"),
        pytest.param("a" * 250 + "@example.org", "too_long", id="too-long"),
        pytest.param("ada@exa mple.org", "control", id="space"),
    ],
)
def test_malformed_addresses_get_a_clear_error(address, code):
    with pytest.raises(ValidationError) as raised:
        clean_address(address)
    assert raised.value.code == code
    assert raised.value.messages[0].endswith(".")


def test_normalized_addresses_compare_case_insensitively_and_idn_safely():
    assert normalize_email("Ada@Example.ORG") == normalize_email("ada@example.org")
    assert (
        normalize_email("ada@bücher.de")
        == "ada@xn--bcher-kva.de"
        == normalize_email("ADA@XN--BCHER-KVA.DE")
    )
