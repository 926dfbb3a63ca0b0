"""Reading the workspace's form fields: what a person types becomes exact minor units and basis points."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rights.terms import CURRENCY_EXPONENTS, MAX_MINOR_UNITS, Money
from web import forms


@given(amount=st.integers(1, MAX_MINOR_UNITS), currency=st.sampled_from(sorted(CURRENCY_EXPONENTS)))
def test_an_amount_shown_in_a_field_reads_back_as_the_same_minor_units(amount: int, currency: str) -> None:
    shown = forms.plain_amount(Money(amount, currency))
    assert forms.money("Price", shown, currency) == Money(amount, currency)


@given(basis_points=st.integers(1, 10_000))
def test_a_percentage_with_two_decimals_is_exact_basis_points(basis_points: int) -> None:
    assert forms.share_bp("Share", f"{basis_points / 100:.2f}") == basis_points
    assert forms.share_bp("Share", f"{basis_points / 100:.2f} %") == basis_points


def test_grouped_amounts_are_read_and_extra_decimals_are_refused_not_rounded() -> None:
    assert forms.money("Price", "1,250.50", "EUR") == Money(125_050, "EUR")
    assert forms.money("Price", "1500", "JPY") == Money(1_500, "JPY")
    with pytest.raises(forms.FormError, match="Price: EUR amounts have at most 2 decimals"):
        forms.money("Price", "10.001", "EUR")
    with pytest.raises(forms.FormError, match="Price: JPY amounts have at most 0 decimals"):
        forms.money("Price", "10.5", "JPY")


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("", "Floor: “” is not a number"),
        ("NaN", "Floor: “NaN” is not a number"),
        ("-5", "Floor: the amount must be more than zero"),
        ("0", "Floor: the amount must be more than zero"),
        ("1e20", "Floor: the amount is too large"),
    ],
)
def test_unreadable_amounts_name_the_field(text: str, sentence: str) -> None:
    with pytest.raises(forms.FormError) as refused:
        forms.money("Floor", text, "EUR")
    assert str(refused.value) == sentence


@pytest.mark.parametrize("text", ["0", "100.01", "-1", "12.345"])
def test_a_share_outside_zero_to_one_hundred_or_finer_than_a_basis_point_is_refused(text: str) -> None:
    with pytest.raises(forms.FormError, match=r"^Share: "):
        forms.share_bp("Share", text)


def test_territories_are_split_on_commas_spaces_and_semicolons_and_upper_cased() -> None:
    assert forms.territories("Territories", "de, at;fr  europe") == ("DE", "AT", "FR", "EUROPE")
    with pytest.raises(forms.FormError, match="name at least one territory"):
        forms.territories("Territories", " , ")
