"""Which address a request is counted against, and which passwords are refused (pure, no servers)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.accounts.passwords import password_problem
from marketplace.addresses import client_address, counted_as, parse_networks
from marketplace.config import ConfigError, load_settings

PROXIES = parse_networks("10.0.0.0/8, 2001:db8::/32")
addresses = st.ip_addresses(v=4).map(str)


def test_the_peer_is_the_client_when_it_is_not_a_trusted_proxy() -> None:
    assert client_address("203.0.113.5", "198.51.100.1", PROXIES) == "203.0.113.5"


def test_behind_a_trusted_proxy_the_last_untrusted_hop_is_the_client() -> None:
    assert client_address("10.0.0.2", "198.51.100.1, 203.0.113.5, 10.0.0.9", PROXIES) == "203.0.113.5"


def test_a_trusted_proxy_without_forwarding_header_is_the_client() -> None:
    assert client_address("10.0.0.2", None, PROXIES) == "10.0.0.2"


@given(made_up=st.lists(addresses, max_size=5), client=addresses)
def test_what_a_client_prepends_to_forwarded_for_never_changes_its_address(
    made_up: list[str], client: str
) -> None:
    if ipaddress.ip_address(client) in PROXIES[0]:
        return
    forwarded = ", ".join([*made_up, client])
    assert client_address("10.1.2.3", forwarded, PROXIES) == client


def test_trusted_proxies_must_be_addresses_or_cidr_blocks(tmp_path: object) -> None:
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        load_settings({"MARKETPLACE_DATA_DIR": str(tmp_path), "TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"})
    settings = load_settings({"MARKETPLACE_DATA_DIR": str(tmp_path), "TRUSTED_PROXIES": "10.0.0.0/8,::1"})
    assert [str(network) for network in settings.trusted_proxies] == ["10.0.0.0/8", "::1/128"]


@pytest.mark.parametrize("password", ["password1234", "1q2w3e4r5t6y", "QAZWSX-EDCRFV", "leave me alone"])
def test_common_passwords_are_refused_whatever_their_case_and_separators(password: str) -> None:
    assert "commonly used" in (password_problem(password) or "")


@pytest.mark.parametrize("password", ["correct horse battery staple", "demo-password"])
def test_the_test_and_demo_passwords_are_accepted(password: str) -> None:
    assert password_problem(password) is None


@given(st.text(max_size=11))
def test_anything_shorter_than_twelve_characters_is_refused(password: str) -> None:
    assert password_problem(password) == "the password must be at least 12 characters long"


@given(interface=st.integers(min_value=0, max_value=2**64 - 1))
def test_ipv6_clients_are_counted_by_their_64_so_one_subscriber_gets_one_allowance(interface: int) -> None:
    address = ipaddress.IPv6Address((0x2001_0DB8_0001_0002 << 64) | interface)
    assert counted_as(str(address)) == "2001:db8:1:2::/64"


def test_ipv4_clients_and_ipv4_mapped_addresses_are_counted_by_their_own_address() -> None:
    assert counted_as("203.0.113.5") == "203.0.113.5"
    assert counted_as("::ffff:203.0.113.5") == "203.0.113.5"
    assert counted_as("unknown") == "unknown"
