"""The gen_nft application's state: NFTs by token id, token ids by owner, the mint counter."""

from __future__ import annotations

from edgechain.sdk import AccountOwner, CryptoHash
from edgechain.sdk.views import MapView, RegisterView, RootView

from .abi import Nft


class GenNftState(RootView):
    """NFTs held on this chain and who owns them."""

    nfts = MapView(CryptoHash, Nft)
    owned_token_ids = MapView(AccountOwner, list[CryptoHash])
    minted_count = RegisterView(int, 0)
    created_at_height = RegisterView(int, -1)
