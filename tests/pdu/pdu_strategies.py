"""Hypothesis strategies for every PDU, item and sub-item, with valid values only.

"Valid" means what a conforming peer sends and :func:`dicomnet.pdu.decode_pdu` gives
back unchanged: ASCII UIDs of digits and dots up to 64 characters, AE titles of 1-16
printable characters without edge spaces, odd context IDs, and so on.
"""

from __future__ import annotations

from hypothesis import strategies as st

from dicomnet.pdu import (
    PDU,
    PDV,
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AReleaseRP,
    AReleaseRQ,
    AsyncOperationsWindowSubItem,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
    MaximumLengthSubItem,
    PDataTF,
    PresentationContextAC,
    PresentationContextRQ,
    RoleSelectionSubItem,
    SOPClassCommonExtendedNegotiationSubItem,
    SOPClassExtendedNegotiationSubItem,
    UnknownSubItem,
    UserIdentityACSubItem,
    UserIdentityRQSubItem,
    UserInformationItem,
    UserSubItem,
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)

#: PS3.5 §9.1: components of digits joined by dots, at most 64 characters.
uids = st.lists(st.integers(0, 999_999), min_size=1, max_size=8).map(
    lambda parts: ".".join(map(str, parts)))

_printable = st.characters(min_codepoint=0x20, max_codepoint=0x7E)

#: 1-16 printable ASCII characters; edge spaces are padding, so not part of a value.
ae_titles = st.text(_printable, min_size=1, max_size=16).filter(
    lambda s: s == s.strip(" "))
names = ae_titles  # implementation version names obey the same rules

context_ids = st.integers(0, 127).map(lambda n: 2 * n + 1)
small_bytes = st.binary(max_size=64)

maximum_lengths = st.builds(MaximumLengthSubItem, u32)
implementation_class_uids = st.builds(ImplementationClassUIDSubItem, uids)
implementation_version_names = st.builds(ImplementationVersionNameSubItem, names)
async_windows = st.builds(AsyncOperationsWindowSubItem, u16, u16)
role_selections = st.builds(RoleSelectionSubItem, uids, st.booleans(), st.booleans())
extended_negotiations = st.builds(SOPClassExtendedNegotiationSubItem, uids, small_bytes)
common_extended_negotiations = st.builds(
    SOPClassCommonExtendedNegotiationSubItem, uids, uids,
    st.lists(uids, max_size=4).map(tuple), u8)
user_identity_rqs = st.builds(UserIdentityRQSubItem, st.integers(1, 5), st.booleans(),
                              small_bytes, small_bytes)
user_identity_acs = st.builds(UserIdentityACSubItem, small_bytes)
unknown_sub_items = st.builds(
    UnknownSubItem, u8.filter(lambda t: not 0x51 <= t <= 0x59), small_bytes, u8)

#: Each sub-item kind by name, for tests that go through them one by one.
SUB_ITEMS: dict[str, st.SearchStrategy[UserSubItem]] = {
    "maximum-length 51H": maximum_lengths,
    "implementation-class-UID 52H": implementation_class_uids,
    "async-operations-window 53H": async_windows,
    "role-selection 54H": role_selections,
    "implementation-version-name 55H": implementation_version_names,
    "SOP-class-extended-negotiation 56H": extended_negotiations,
    "SOP-class-common-extended-negotiation 57H": common_extended_negotiations,
    "user-identity-RQ 58H": user_identity_rqs,
    "user-identity-AC 59H": user_identity_acs,
    "unknown": unknown_sub_items,
}

sub_items: st.SearchStrategy[UserSubItem] = st.one_of(*SUB_ITEMS.values())
user_information = st.builds(
    UserInformationItem, st.lists(sub_items, max_size=8).map(tuple))

presentation_contexts_rq = st.builds(
    PresentationContextRQ, context_ids, uids, st.lists(uids, min_size=1, max_size=4).map(tuple))


@st.composite
def presentation_contexts_ac(draw: st.DrawFn) -> PresentationContextAC:
    """PS3.8 §9.3.3.2: the transfer syntax is only significant when accepted (result 0)."""
    result = draw(st.integers(0, 4))
    transfer = draw(uids) if result == 0 else draw(st.one_of(st.just(""), uids))
    return PresentationContextAC(draw(context_ids), result, transfer)


associate_rqs = st.builds(
    AAssociateRQ, ae_titles, ae_titles,
    st.lists(presentation_contexts_rq, max_size=5).map(tuple), user_information, uids, u16)
associate_acs = st.builds(
    AAssociateAC, ae_titles, ae_titles,
    st.lists(presentation_contexts_ac(), max_size=5).map(tuple), user_information, uids, u16)
associate_rjs = st.builds(AAssociateRJ, u8, u8, u8)
pdvs = st.builds(PDV, context_ids, st.booleans(), st.booleans(), st.binary(max_size=300))
p_data_tfs = st.builds(PDataTF, st.lists(pdvs, min_size=1, max_size=5).map(tuple))
release_rqs = st.just(AReleaseRQ())
release_rps = st.just(AReleaseRP())
aborts = st.builds(AAbort, u8, u8)

#: Each PDU type by name.
PDUS: dict[str, st.SearchStrategy[PDU]] = {
    "A-ASSOCIATE-RQ": associate_rqs,
    "A-ASSOCIATE-AC": associate_acs,
    "A-ASSOCIATE-RJ": associate_rjs,
    "P-DATA-TF": p_data_tfs,
    "A-RELEASE-RQ": release_rqs,
    "A-RELEASE-RP": release_rps,
    "A-ABORT": aborts,
}

any_pdu: st.SearchStrategy[PDU] = st.one_of(*PDUS.values())
