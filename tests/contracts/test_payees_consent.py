"""A deal's payees come from the ownership picture; co-owners consent by policy or are asked."""

from __future__ import annotations

from uuid import UUID

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.consent import consents_needed
from contracts.model import ConsentStatus
from contracts.payees import payees_for
from rights.model import Mechanism, Party, Right
from rights.terms import Money
from tests.rights.factory import Catalogue, scope, usage

SELLER = UUID(int=1)
OTHER_ORG = UUID(int=2)


def member(catalogue: Catalogue, name: str, organisation: UUID | None) -> Party:
    found = catalogue.party(name)
    joined = msgspec.structs.replace(found, organisation_id=organisation)
    catalogue.parties[found.id] = joined
    return joined


def test_master_and_publishing_share_the_fee_half_and_half_by_their_splits() -> None:
    catalogue = Catalogue()
    label = member(catalogue, "Northern Lights Records", SELLER)
    writer, publisher = member(catalogue, "Ada Writer", None), member(catalogue, "Harbour Songs", OTHER_ORG)
    catalogue.owns(label, Right.MASTER, 10_000)
    catalogue.owns(writer, Right.PUBLISHING, 2_500)
    catalogue.owns(publisher, Right.PUBLISHING, 7_500)
    payees = payees_for(catalogue.rights(), usage(), master_share_bps=5_000, seller=SELLER, seller_name="NL")
    by_party = {(p.party_name, p.side): p.share_bps for p in payees}
    assert by_party == {
        ("Northern Lights Records", "master"): 5_000,
        ("Harbour Songs", "publishing"): 3_750,
        ("Ada Writer", "publishing"): 1_250,
    }
    assert {p.territory for p in payees} == {"worldwide"}


def test_an_administrator_is_paid_for_the_share_it_administers() -> None:
    catalogue = Catalogue()
    label = member(catalogue, "Label", SELLER)
    writer = member(catalogue, "Writer", None)
    admin = member(catalogue, "Sub-publisher", OTHER_ORG)
    catalogue.owns(label, Right.MASTER, 10_000)
    catalogue.owns(writer, Right.PUBLISHING, 10_000)
    catalogue.administers(admin, writer)
    payees = payees_for(
        catalogue.rights(), usage(), master_share_bps=6_000, seller=SELLER, seller_name="Label"
    )
    assert [(p.party_id, p.organisation_id, p.share_bps) for p in payees if p.side == "publishing"] == [
        (admin.id, OTHER_ORG, 4_000)
    ]


def test_territories_owned_by_different_publishers_are_paid_by_their_number_of_countries() -> None:
    catalogue = Catalogue()
    label = member(catalogue, "Label", SELLER)
    home, abroad = member(catalogue, "Home Pub", OTHER_ORG), member(catalogue, "Abroad Pub", None)
    catalogue.owns(label, Right.MASTER, 10_000)
    catalogue.owns(home, Right.PUBLISHING, 10_000, scope("DE"))
    catalogue.owns(abroad, Right.PUBLISHING, 10_000, scope("FR", "IT", "ES"))
    payees = payees_for(
        catalogue.rights(),
        usage("DE", "FR", "IT", "ES"),
        master_share_bps=5_000,
        seller=SELLER,
        seller_name="L",
    )
    publishing = {p.party_name: (p.territory, p.share_bps) for p in payees if p.side == "publishing"}
    assert publishing["Home Pub"] == ("DE", 1_250)
    assert publishing["Abroad Pub"][1] == 3_750


def test_a_track_with_no_recorded_rights_pays_the_seller_everything() -> None:
    payees = payees_for(
        Catalogue().rights(), usage(), master_share_bps=5_000, seller=SELLER, seller_name="Seller"
    )
    assert sum(p.share_bps for p in payees) == 10_000
    assert {(p.party_id, p.organisation_id) for p in payees} == {(SELLER, SELLER)}


@settings(max_examples=60, deadline=None)
@given(
    shares=st.lists(st.integers(min_value=1, max_value=97), min_size=1, max_size=6),
    master_bps=st.integers(min_value=0, max_value=10_000),
)
def test_payees_always_sum_to_the_whole_fee(shares: list[int], master_bps: int) -> None:
    catalogue = Catalogue()
    label = member(catalogue, "Label", SELLER)
    catalogue.owns(label, Right.MASTER, 10_000)
    for i, share in enumerate(shares):
        catalogue.owns(member(catalogue, f"Writer {i}", None), Right.PUBLISHING, share)
    payees = payees_for(
        catalogue.rights(), usage(), master_share_bps=master_bps, seller=SELLER, seller_name="L"
    )
    assert sum(p.share_bps for p in payees) == 10_000


def _co_owned(**policy_terms: object) -> tuple[Catalogue, Party]:
    catalogue = Catalogue()
    label = member(catalogue, "Label", SELLER)
    publisher = member(catalogue, "Publisher", OTHER_ORG)
    catalogue.owns(label, Right.MASTER, 10_000)
    catalogue.owns(publisher, Right.PUBLISHING, 10_000)
    if policy_terms.pop("policy", True):
        catalogue.opts_in(publisher, Mechanism.VICKREY, **policy_terms)
    return catalogue, publisher


def _consents(
    catalogue: Catalogue, price: int = 100_000, mechanism: Mechanism = Mechanism.VICKREY
) -> dict[str, tuple[ConsentStatus, str]]:
    rights = catalogue.rights()
    payees = payees_for(rights, usage(), master_share_bps=5_000, seller=SELLER, seller_name="Label")
    needs = consents_needed(
        payees, rights, seller=SELLER, usage=usage(), mechanism=mechanism, price=Money(price, "EUR")
    )
    return {need.party_name: (need.status, need.reason) for need in needs}


def test_a_co_owner_whose_policy_covers_mechanism_usage_and_price_consents_by_policy() -> None:
    catalogue, _ = _co_owned(floor=Money(40_000, "EUR"), ceiling=Money(60_000, "EUR"))
    consents = _consents(catalogue)
    assert consents["Label"][0] is ConsentStatus.BY_POLICY
    assert consents["Publisher"] == (ConsentStatus.BY_POLICY, "its licensing policy covers this deal")


def test_a_co_owner_without_a_policy_is_asked() -> None:
    catalogue, _ = _co_owned(policy=False)
    assert _consents(catalogue)["Publisher"] == (
        ConsentStatus.REQUESTED,
        "it has set no licensing policy for this track",
    )


def test_a_co_owner_is_asked_when_its_side_of_the_fee_is_under_its_floor() -> None:
    catalogue, _ = _co_owned(floor=Money(60_000, "EUR"))
    status, reason = _consents(catalogue)["Publisher"]
    assert status is ConsentStatus.REQUESTED
    assert reason == "the publishing fee of 500.00 EUR is under its floor of 600.00 EUR"


def test_a_co_owner_is_asked_when_its_policy_does_not_offer_the_mechanism() -> None:
    catalogue, _ = _co_owned()
    status, reason = _consents(catalogue, mechanism=Mechanism.NEGOTIATION)["Publisher"]
    assert (
        status is ConsentStatus.REQUESTED and reason == "its policy does not offer negotiation for online ads"
    )


def test_consents_are_one_per_party_in_a_stable_order() -> None:
    catalogue, _ = _co_owned()
    rights = catalogue.rights()
    payees = payees_for(rights, usage(), master_share_bps=5_000, seller=SELLER, seller_name="Label")
    needs = consents_needed(
        reversed(payees),
        rights,
        seller=SELLER,
        usage=usage(),
        mechanism=Mechanism.VICKREY,
        price=Money(1, "EUR"),
    )
    assert [n.party_name for n in needs] == ["Label", "Publisher"]
    assert len({n.party_id for n in needs}) == 2
