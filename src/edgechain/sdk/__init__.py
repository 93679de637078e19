"""edgechain.sdk: what application authors import (contracts inside the sandbox, services outside).

An application is a directory of four modules (see ``docs/applications.md`` and
``apps/counter``):

    abi.py       the types: ``class MyAbi(Abi): Operation = …; Message = …; Response = …``
    state.py     ``class MyState(RootView)`` with ``RegisterView``/``MapView``/``SetView``/``LogView`` fields
    contract.py  ``class MyContract(Contract)``: instantiate / execute_operation / execute_message / store
    service.py   ``class MyService(Service)`` with a strawberry ``Query`` (and ``Mutation``)

Contracts run in the sandbox (``edgechain.execution.sandbox``): they may import only this
package's public names, ``dataclasses``, ``typing``, ``enum`` and their own modules.
``ContractRuntime`` and ``ServiceRuntime`` describe what the runtime offers each side.
Identifiers and values (``ChainId``, ``AccountOwner``, ``Account``, ``ApplicationId``,
``BlobId``, ``Amount``, ``Timestamp``, ``BlockHeight``, ``CryptoHash``) are re-exported so
contracts can use them.
"""

from __future__ import annotations

from edgechain.base.crypto import CryptoHash
from edgechain.base.identifiers import Account, AccountOwner, ApplicationId, BlobId, ChainId
from edgechain.base.values import Amount, BlockHeight, Timestamp
from edgechain.execution.runtime import ContractRuntime, ServiceRuntime
from edgechain.sdk.abi import Abi
from edgechain.sdk.contract import Contract
from edgechain.sdk.service import Service
from edgechain.sdk.views import LogView, MapView, RegisterView, RootView, SetView

__all__ = [
    "Abi",
    "Account",
    "AccountOwner",
    "Amount",
    "ApplicationId",
    "BlobId",
    "BlockHeight",
    "ChainId",
    "Contract",
    "ContractRuntime",
    "CryptoHash",
    "LogView",
    "MapView",
    "RegisterView",
    "RootView",
    "Service",
    "ServiceRuntime",
    "SetView",
    "Timestamp",
]
