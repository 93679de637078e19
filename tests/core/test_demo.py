"""The transfer demo runs for real on SQLite and can run again on the same directory."""

from __future__ import annotations

from pathlib import Path

from edgechain.core.demo import run_transfer_demo


def test_transfer_demo_certifies_blocks_and_validators_agree(tmp_path: Path) -> None:
    lines: list[str] = []
    run_transfer_demo(tmp_path, out=lines.append)
    text = "\n".join(lines)
    assert text.count("certified block:") == 9
    assert "bob takes the credit into his next block" in text
    assert "balances after: alice 85., bob 110., carol 100." in text
    assert "refused by the validators: InsufficientFunding" in text
    assert lines[-1].strip() == "all 4 validators agree on the state hash of each of the 4 chains"
    assert (tmp_path / "validator-0.sqlite").exists()

    again: list[str] = []
    run_transfer_demo(tmp_path, out=again.append)
    assert "chain alice height 3" in "\n".join(again)  # the chains continued from the first run
