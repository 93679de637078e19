"""Sources of a small application that exercises the contract runtime (used by the tests here)."""

from __future__ import annotations

import textwrap

ABI = textwrap.dedent(
    """\
    from __future__ import annotations

    from dataclasses import dataclass

    from edgechain.sdk import Abi, Account, AccountOwner, Amount, ApplicationId, BlobId, ChainId


    @dataclass(frozen=True)
    class Add:
        value: int


    @dataclass(frozen=True)
    class Send:
        destination: ChainId
        value: int
        tracked: bool


    @dataclass(frozen=True)
    class SendAuthenticated:
        destination: ChainId
        value: int


    @dataclass(frozen=True)
    class Call:
        target: ApplicationId
        value: int


    @dataclass(frozen=True)
    class CallSelf:
        pass


    @dataclass(frozen=True)
    class Loop:
        pass


    @dataclass(frozen=True)
    class FailAfterWrite:
        pass


    @dataclass(frozen=True)
    class ReadBlob:
        blob_id: BlobId


    @dataclass(frozen=True)
    class Pay:
        source: AccountOwner | None
        recipient: Account
        amount: Amount


    @dataclass(frozen=True)
    class Facts:
        pass


    @dataclass(frozen=True)
    class Note:
        value: int


    class ProbeAbi(Abi):
        Operation = (
            Add | Send | SendAuthenticated | Call | CallSelf | Loop | FailAfterWrite | ReadBlob
            | Pay | Facts
        )
        Message = Note
        Response = int
        Parameters = int
        InstantiationArgument = int
    """
)

STATE = textwrap.dedent(
    """\
    from __future__ import annotations

    from edgechain.sdk import ChainId
    from edgechain.sdk.views import LogView, MapView, RegisterView, RootView


    class ProbeState(RootView):
        total = RegisterView(int, 0)
        notes = LogView(int)
        bounced = RegisterView(int, 0)
        senders = MapView(ChainId, int)
        facts = LogView(str)
    """
)

CONTRACT = textwrap.dedent(
    """\
    from __future__ import annotations

    from edgechain.sdk import Contract

    from .abi import (
        Add, Call, CallSelf, FailAfterWrite, Facts, Loop, Note, Pay, ProbeAbi, ReadBlob, Send,
        SendAuthenticated,
    )
    from .state import ProbeState


    class ProbeContract(Contract):
        abi = ProbeAbi
        State = ProbeState

        def instantiate(self, argument: int) -> None:
            self.state.total.set(argument + self.runtime.application_parameters())

        def execute_operation(self, operation):
            if isinstance(operation, Add):
                total = self.state.total.get() + operation.value
                self.state.total.set(total)
                return total
            if isinstance(operation, Send):
                self.runtime.send_message(
                    operation.destination, Note(operation.value), tracked=operation.tracked
                )
                return 0
            if isinstance(operation, SendAuthenticated):
                self.runtime.send_message(
                    operation.destination, Note(operation.value), authenticated=True
                )
                return 0
            if isinstance(operation, Call):
                return self.runtime.call_application(operation.target, Add(operation.value))
            if isinstance(operation, CallSelf):
                return self.runtime.call_application(self.runtime.application_id(), Add(1))
            if isinstance(operation, Loop):
                while True:
                    pass
            if isinstance(operation, FailAfterWrite):
                self.state.total.set(-1)
                raise ValueError("failed after writing")
            if isinstance(operation, ReadBlob):
                content = self.runtime.read_data_blob(operation.blob_id)
                self.state.total.set(len(content))
                return len(content)
            if isinstance(operation, Pay):
                self.runtime.transfer(operation.source, operation.recipient, operation.amount)
                return 0
            if isinstance(operation, Facts):
                runtime = self.runtime
                self.state.facts.push(f"height {runtime.block_height()}")
                self.state.facts.push(f"time {runtime.system_time()}")
                self.state.facts.push(f"owner {runtime.authenticated_owner()}")
                self.state.facts.push(f"caller {runtime.authenticated_caller_id()}")
                self.state.facts.push(f"bouncing {runtime.message_is_bouncing()}")
                self.state.facts.push(f"fuel left {runtime.remaining_fuel() > 0}")
                return 0
            raise ValueError("unknown operation")

        def execute_message(self, message: Note) -> None:
            origin = self.runtime.message_origin_chain_id()
            if self.runtime.message_is_bouncing():
                self.state.bounced.set(self.state.bounced.get() + message.value)
                return
            if message.value < 0:
                raise ValueError("negative note")
            self.state.notes.push(message.value)
            self.state.facts.push(f"message signed by {self.runtime.authenticated_owner()}")
            self.state.senders.insert(origin, self.state.senders.get(origin, 0) + 1)
    """
)

SERVICE = textwrap.dedent(
    """\
    from __future__ import annotations

    import strawberry

    from edgechain.sdk import Service

    from .abi import ProbeAbi
    from .state import ProbeState


    @strawberry.type
    class Query:
        @strawberry.field
        def total(self, info: strawberry.Info) -> int:
            return info.context.state.total.get()

        @strawberry.field
        def notes(self, info: strawberry.Info) -> list[int]:
            state = info.context.state
            return state.notes.read(0, state.notes.count())

        @strawberry.field
        def bounced(self, info: strawberry.Info) -> int:
            return info.context.state.bounced.get()

        @strawberry.field
        def senders(self, info: strawberry.Info) -> int:
            return info.context.state.senders.count()

        @strawberry.field
        def facts(self, info: strawberry.Info) -> list[str]:
            state = info.context.state
            return state.facts.read(0, state.facts.count())

        @strawberry.field
        def parameters(self, info: strawberry.Info) -> int:
            return info.context.runtime.application_parameters()

        @strawberry.field
        def fetch(self, info: strawberry.Info, url: str) -> str:
            return info.context.runtime.fetch_url(url).decode()


    class ProbeService(Service):
        abi = ProbeAbi
        State = ProbeState
        Query = Query
    """
)

SOURCES = {"abi": ABI, "state": STATE, "contract": CONTRACT, "service": SERVICE}
