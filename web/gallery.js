// The gen_nft gallery: an owner's NFTs with their generated content, mint with preview,
// transfer to another chain, the model card, live refresh on new blocks.
import {
  MODEL_CARD_QUERY, el, graphql, loadConfig, renderModelCard, short, subscribeBlocks,
} from "./showcase.js";

const NFT_FIELDS = "tokenId owner name minter prompt maxTokens temperature";
const $ = (id) => document.getElementById(id);
const contents = new Map(); // tokenId -> content: it never changes, fetch it once

let config = null;

function mintVariables() {
  return {
    minter: config.owner,
    name: $("mint-name").value,
    prompt: $("mint-prompt").value,
    maxTokens: Number($("mint-tokens").value),
    temperature: Number($("mint-temperature").value),
  };
}

async function request(query, variables) {
  return graphql(config.chainId, config.appId, query, variables);
}

async function refreshModelCard() {
  try {
    const body = await request(MODEL_CARD_QUERY);
    renderModelCard($("model-card"), body.data.model);
  } catch (error) {
    $("model-card").replaceChildren(el("h2", {}, "Model"), el("p", { class: "error" }, error.message));
  }
}

function transferForm(nft) {
  const others = config.chains.filter((chain) => chain.chainId !== config.chainId);
  const target = others[0] ?? config.chains[0];
  const chainSelect = el(
    "select",
    { "data-testid": "transfer-chain" },
    config.chains.map((chain) =>
      el("option", { value: chain.chainId, selected: chain === target }, `${chain.name} ${short(chain.chainId)}`),
    ),
  );
  const ownerInput = el("input", { "data-testid": "transfer-owner", value: target?.owner ?? "", placeholder: "owner (64 hex)" });
  chainSelect.addEventListener("change", () => {
    const chosen = config.chains.find((chain) => chain.chainId === chainSelect.value);
    if (chosen) ownerInput.value = chosen.owner;
  });
  const status = el("p", { class: "meta" });
  const form = el(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        status.textContent = "transferring…";
        try {
          const body = await request(
            "mutation($s: String!, $t: String!, $c: String!, $o: String!) { transfer(sourceOwner: $s, tokenId: $t, targetChainId: $c, targetOwner: $o) }",
            { s: config.owner, t: nft.tokenId, c: chainSelect.value, o: ownerInput.value.trim() },
          );
          status.textContent = `sent in block ${body.block?.height ?? short(body.blockHash ?? "?")}`;
          await refreshNfts();
        } catch (error) {
          status.textContent = error.message;
        }
      },
    },
    el("label", {}, "to chain"), chainSelect,
    el("label", {}, "owner"), ownerInput,
    el("button", { type: "submit", class: "secondary" }, "Transfer"),
    status,
  );
  return el("details", {}, el("summary", {}, "transfer"), form);
}

function nftCard(nft) {
  const content = el("div", { class: "content pending", "data-testid": "nft-content" }, "generating…");
  const card = el(
    "article",
    { class: "nft", "data-token-id": nft.tokenId },
    el("h3", {}, nft.name),
    el("div", { class: "prompt" }, `“${nft.prompt}”`),
    content,
    el("div", { class: "meta" }, `token ${short(nft.tokenId)} · minted by ${short(nft.minter, 6)} · ${nft.maxTokens} tokens at T=${nft.temperature}`),
    transferForm(nft),
  );
  fillContent(nft.tokenId, content);
  return card;
}

async function fillContent(tokenId, element) {
  try {
    if (!contents.has(tokenId)) {
      const body = await request("query($t: String!) { nft(tokenId: $t) { content } }", { t: tokenId });
      if (!body.data.nft) return;
      contents.set(tokenId, body.data.nft.content);
    }
    element.textContent = contents.get(tokenId);
    element.classList.remove("pending");
  } catch (error) {
    element.textContent = error.message;
    element.classList.add("error");
  }
}

let refreshing = null;
async function refreshNfts() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const body = await request(`query($o: String!) { ownedNfts(owner: $o) { ${NFT_FIELDS} } }`, { o: config.owner });
      const nfts = body.data.ownedNfts;
      const grid = $("nfts");
      const shown = new Map([...grid.children].map((card) => [card.dataset.tokenId, card]));
      const cards = nfts.map((nft) => shown.get(nft.tokenId) ?? nftCard(nft));
      grid.replaceChildren(...cards.reverse());
      $("count").textContent = `(${nfts.length})`;
      $("empty").hidden = nfts.length > 0;
      $("error").textContent = "";
      await refreshModelCard();
    } catch (error) {
      $("error").textContent = error.message;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

async function preview() {
  const box = $("preview");
  box.hidden = false;
  box.replaceChildren(el("p", { class: "meta" }, "generating the preview…"));
  try {
    const body = await request(
      "query($minter: String!, $prompt: String!, $maxTokens: Int!, $temperature: Float!) { preview(minter: $minter, prompt: $prompt, maxTokens: $maxTokens, temperature: $temperature) { tokenId content } }",
      (({ name, ...rest }) => rest)(mintVariables()),
    );
    const { tokenId, content } = body.data.preview;
    contents.set(tokenId, content);
    box.replaceChildren(
      el("div", { class: "meta" }, `next token id ${short(tokenId)}`),
      el("div", { class: "content", "data-testid": "preview-content" }, content),
    );
  } catch (error) {
    box.replaceChildren(el("p", { class: "error" }, error.message));
  }
}

async function mint(event) {
  event.preventDefault();
  const button = $("mint-button");
  button.disabled = true;
  $("mint-status").textContent = "minting…";
  try {
    const body = await request(
      "mutation($minter: String!, $name: String!, $prompt: String!, $maxTokens: Int!, $temperature: Float!) { mint(minter: $minter, name: $name, prompt: $prompt, maxTokens: $maxTokens, temperature: $temperature) }",
      mintVariables(),
    );
    $("mint-status").textContent = `minted in block ${body.block?.height ?? short(body.blockHash ?? "?")}`;
    await refreshNfts();
  } catch (error) {
    $("mint-status").textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

async function start() {
  config = await loadConfig("genNft");
  if (!config.chainId || !config.appId) {
    $("error").textContent = "No chain or application: open this page with ?chain=…&app=…&owner=…";
    return;
  }
  $("owner").textContent = short(config.owner, 10);
  $("owner").title = config.owner;
  const select = $("chain");
  const choices = config.chains.length ? config.chains : [{ chainId: config.chainId, name: "chain", owner: config.owner }];
  select.replaceChildren(...choices.map((chain) => el("option", { value: chain.chainId, selected: chain.chainId === config.chainId }, `${chain.name} ${short(chain.chainId)}`)));
  select.addEventListener("change", () => {
    const chosen = config.chains.find((chain) => chain.chainId === select.value);
    const url = new URL(window.location.href);
    url.searchParams.set("chain", chosen.chainId);
    url.searchParams.set("owner", chosen.owner);
    if (config.appId) url.searchParams.set("app", config.appId);
    window.location.href = url.toString();
  });
  $("preview-button").addEventListener("click", preview);
  $("mint-form").addEventListener("submit", mint);
  subscribeBlocks(config.chainId, () => refreshNfts(), (status) => {
    $("status").textContent = status;
    $("status").classList.toggle("live", status === "live");
  });
  await refreshNfts();
}

start();
