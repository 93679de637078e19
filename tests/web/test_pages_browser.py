"""The two pages in a real browser (Playwright driving Debian's Chromium, headless), with SmolLM2.

Opens the gallery, previews and mints an NFT through the form and waits for its generated
content; opens the Stories page and watches the story arrive in several pieces. Screenshots
go to ``test-artifacts/``.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "apps"))
from showcase_demo import BackgroundShowcase, ShowcaseResult, smollm2_path  # noqa: E402

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def showcase(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShowcaseResult]:
    try:
        model = smollm2_path()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    directory = tmp_path_factory.mktemp("browser-showcase")
    with BackgroundShowcase(
        directory, model_path=model, out=lambda line: None, real_stack=True
    ) as result:
        yield result


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("Debian's Chromium is missing: apt-get install -y chromium")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_gallery_mints_through_the_form_and_shows_the_content(
    showcase: ShowcaseResult, browser: object
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(showcase.gallery_url)
    page.wait_for_selector("[data-testid=model-name]", timeout=60_000)
    assert page.inner_text("[data-testid=model-name]") == "SmolLM2-135M-Instruct.Q4_1"
    assert showcase.story.strip(), "the demo told a story"
    first = page.locator("article.nft").first
    first.locator(".content:not(.pending)").wait_for(timeout=120_000)
    assert first.locator("[data-testid=nft-content]").inner_text() == showcase.nft_content

    page.fill("#mint-name", "Comet")
    page.fill("#mint-prompt", "Write two sentences about a comet over a quiet village.")
    page.fill("#mint-tokens", "32")
    page.click("#preview-button")
    page.wait_for_selector("[data-testid=preview-content]", timeout=120_000)
    previewed = page.inner_text("[data-testid=preview-content]")
    assert previewed.strip()
    page.click("#mint-button")
    card = page.locator("article.nft", has=page.locator("h3", has_text="Comet"))
    card.locator(".content:not(.pending)").wait_for(timeout=120_000)
    assert card.locator("[data-testid=nft-content]").inner_text() == previewed
    assert page.locator("article.nft").count() == 2
    assert page.inner_text("#status") == "live"
    page.screenshot(path=str(ARTIFACTS / "gallery.png"), full_page=True)

    # Transfer it to Bob's chain from the card's form; Bob's gallery shows the same content.
    card.locator("summary").click()
    bob = card.locator("[data-testid=transfer-chain] option").nth(1)
    bob_chain = bob.get_attribute("value")
    card.locator("[data-testid=transfer-chain]").select_option(bob_chain)
    bob_owner = card.locator("[data-testid=transfer-owner]").input_value()
    card.locator("button", has_text="Transfer").click()
    page.locator("article.nft h3", has_text="Comet").wait_for(state="detached", timeout=60_000)
    assert page.locator("article.nft").count() == 1
    url = showcase.gallery_url.replace(
        f"chain={showcase.gallery_url.split('chain=')[1][:64]}", f"chain={bob_chain}"
    )
    page.goto(f"{url}&owner={bob_owner}")
    received = page.locator("article.nft", has=page.locator("h3", has_text="Comet"))
    received.wait_for(timeout=120_000)  # the node takes it from Bob's inbox by itself
    received.locator(".content:not(.pending)").wait_for(timeout=120_000)
    assert received.locator("[data-testid=nft-content]").inner_text() == previewed
    page.wait_for_selector("[data-testid=model-name]", timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "gallery-bob.png"), full_page=True)
    assert errors == []
    page.close()


def test_stories_page_streams_the_story(showcase: ShowcaseResult, browser: object) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page.goto(showcase.stories_url)
    page.wait_for_selector("[data-testid=model-name]", timeout=60_000)
    page.fill("#max-tokens", "48")
    page.click("#tell")
    lengths: list[int] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        lengths.append(len(page.inner_text("[data-testid=story]")))
        if "done" in page.inner_text("#stats"):
            break
        page.wait_for_timeout(100)
    story = page.inner_text("[data-testid=story]")
    assert "done" in page.inner_text("#stats"), page.inner_text("#error")
    assert story.strip()
    partial = {length for length in lengths if 0 < length < len(story)}
    assert len(partial) >= 2, f"the text should arrive in pieces, saw lengths {lengths}"

    # Publish an attestation of it; its hash is the streamed text's; re-running it agrees.
    text = page.eval_on_selector("[data-testid=story]", "element => element.textContent")
    page.click("#attest")
    attestation = page.locator("[data-testid=attestation]").first
    attestation.wait_for(timeout=180_000)
    assert attestation.get_attribute("data-output-hash") == blake3.blake3(text.encode()).hexdigest()
    attestation.locator("button", has_text="verify").click()
    attestation.locator("span", has_text="the same output").wait_for(timeout=180_000)
    page.screenshot(path=str(ARTIFACTS / "stories.png"), full_page=True)
    page.close()
