"""The gen_nft contract: mint, transfer (across chains, bouncing back) and claim NFTs."""

from __future__ import annotations

from edgechain.sdk import Account, AccountOwner, BlobId, Contract, CryptoHash

from .abi import (
    MAX_CONTENT_TOKENS,
    MAX_NAME_CHARACTERS,
    MAX_PROMPT_CHARACTERS,
    MILLI,
    TOKEN_ID_TAG,
    Claim,
    ClaimMessage,
    GenNftAbi,
    Mint,
    Nft,
    TokenIdSource,
    Transfer,
    TransferMessage,
)
from .state import GenNftState

HEX_DIGITS = "0123456789abcdef"


class GenNftContract(Contract):
    """Keeps the NFTs of this chain; moves them between owners and chains."""

    abi = GenNftAbi
    State = GenNftState

    def instantiate(self, argument: None) -> None:
        model = self.runtime.application_parameters().model
        if (model.manifest_id is None) == (model.url is None):
            raise ValueError("the model is named by a manifest blob id or by a URL, exactly one")
        if model.url is not None and model.content_hash is None:
            raise ValueError("a model fetched by URL needs its BLAKE3 (content_hash)")
        if model.content_hash is not None and (
            len(model.content_hash) != 64
            or any(character not in HEX_DIGITS for character in model.content_hash)
        ):
            raise ValueError("content_hash must be 64 lowercase hexadecimal digits (BLAKE3)")
        if model.manifest_id is not None:
            # Every validator checks that the model's manifest is published and stored.
            self.runtime.assert_data_blob_exists(manifest_blob_id(model.manifest_id))
        self.state.created_at_height.set(self.runtime.block_height().value)

    def execute_operation(self, operation: Mint | Transfer | Claim) -> CryptoHash | None:
        if isinstance(operation, Mint):
            return self.mint(operation)
        if isinstance(operation, Transfer):
            self.runtime.check_account_permission(operation.source_owner)
            nft = self.owned_nft(operation.token_id, operation.source_owner)
            self.transfer(nft, operation.target_account)
            return None
        owner = operation.source_account.owner
        if owner is None:
            raise ValueError("a claim names the NFT's owner in its source account")
        self.runtime.check_account_permission(owner)
        if operation.source_account.chain_id == self.runtime.chain_id():
            nft = self.owned_nft(operation.token_id, owner)
            self.transfer(nft, operation.target_account)
        else:
            self.runtime.send_message(
                operation.source_account.chain_id,
                ClaimMessage(
                    operation.source_account, operation.token_id, operation.target_account
                ),
                tracked=True,
                authenticated=True,
            )
        return None

    def execute_message(self, message: TransferMessage | ClaimMessage) -> None:
        if isinstance(message, TransferMessage):
            if self.runtime.message_is_bouncing():
                self.add_nft(message.nft)  # rejected: back to its previous owner
            else:
                self.add_nft(replace_owner(message.nft, target_owner(message.target_account)))
            return
        if self.runtime.message_is_bouncing():
            return  # a rejected claim moved nothing
        owner = message.source_account.owner
        if owner is None:
            raise ValueError("a claim names the NFT's owner in its source account")
        self.runtime.check_account_permission(owner)
        nft = self.owned_nft(message.token_id, owner)
        self.transfer(nft, message.target_account)

    # -- helpers

    def mint(self, mint: Mint) -> CryptoHash:
        self.runtime.check_account_permission(mint.minter)
        if not 0 < len(mint.name) <= MAX_NAME_CHARACTERS:
            raise ValueError(f"an NFT name has 1 to {MAX_NAME_CHARACTERS} characters")
        if not 0 < len(mint.prompt) <= MAX_PROMPT_CHARACTERS:
            raise ValueError(f"an NFT prompt has 1 to {MAX_PROMPT_CHARACTERS} characters")
        settings = mint.settings
        if not 1 <= settings.max_tokens <= MAX_CONTENT_TOKENS:
            raise ValueError(f"max_tokens must be between 1 and {MAX_CONTENT_TOKENS}")
        if settings.temperature_milli < 0 or not 0 < settings.top_p_milli <= MILLI:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1]")
        if settings.top_k < 0:
            raise ValueError("top_k must be >= 0")
        minted = self.state.minted_count.get()
        source = TokenIdSource(
            chain_id=self.runtime.chain_id(),
            application_id=self.runtime.application_id(),
            prompt=mint.prompt,
            minter=mint.minter,
            minted_before=minted,
        )
        token_id = CryptoHash.of(TOKEN_ID_TAG, source)
        if self.state.nfts.contains(token_id):
            raise ValueError(f"NFT {token_id.hex()} exists already")
        self.state.minted_count.set(minted + 1)
        self.add_nft(Nft(token_id, mint.minter, mint.name, mint.minter, mint.prompt, settings))
        return token_id

    def owned_nft(self, token_id: CryptoHash, owner: AccountOwner) -> Nft:
        nft = self.state.nfts.get(token_id)
        if nft is None:
            raise ValueError(f"NFT {token_id.hex()} is not on this chain")
        if nft.owner != owner:
            raise ValueError(f"NFT {token_id.hex()} is not owned by {owner}")
        return nft

    def transfer(self, nft: Nft, target_account: Account) -> None:
        new_owner = target_owner(target_account)
        self.remove_nft(nft)
        if target_account.chain_id == self.runtime.chain_id():
            self.add_nft(replace_owner(nft, new_owner))
        else:
            self.runtime.send_message(
                target_account.chain_id, TransferMessage(nft, target_account), tracked=True
            )

    def add_nft(self, nft: Nft) -> None:
        self.state.nfts.insert(nft.token_id, nft)
        owned = self.state.owned_token_ids.get(nft.owner, []) or []
        if nft.token_id not in owned:
            self.state.owned_token_ids.insert(nft.owner, [*owned, nft.token_id])

    def remove_nft(self, nft: Nft) -> None:
        self.state.nfts.remove(nft.token_id)
        owned = self.state.owned_token_ids.get(nft.owner, []) or []
        remaining = [token_id for token_id in owned if token_id != nft.token_id]
        if remaining:
            self.state.owned_token_ids.insert(nft.owner, remaining)
        else:
            self.state.owned_token_ids.remove(nft.owner)


def target_owner(account: Account) -> AccountOwner:
    """The owner an NFT goes to (an account without an owner cannot hold NFTs)."""
    if account.owner is None:
        raise ValueError("NFTs go to an owner: the target account must name one (OWNER@CHAIN)")
    return account.owner


def replace_owner(nft: Nft, owner: AccountOwner) -> Nft:
    """The same NFT with another owner."""
    return Nft(nft.token_id, owner, nft.name, nft.minter, nft.prompt, nft.settings)


def manifest_blob_id(text: str) -> BlobId:
    """The manifest blob id written ``manifest:HEX``."""
    if not text.startswith("manifest:"):
        raise ValueError(f"the model's manifest id must read manifest:HEX, not {text!r}")
    return BlobId.parse(text)
