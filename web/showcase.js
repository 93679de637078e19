// Shared by the showcase pages: where the node is, GraphQL, streams, block notifications.
//
// A page finds its chain and application in its URL (?chain=…&app=…&owner=…); what is
// missing comes from /showcase.json, which the showcase server publishes. Everything is
// same-origin: no CDN, no build step, works offline.

export async function loadConfig(appName) {
  const params = new URLSearchParams(window.location.search);
  let served = null;
  try {
    const response = await fetch("/showcase.json", { cache: "no-store" });
    if (response.ok) served = await response.json();
  } catch (error) {
    served = null;
  }
  const chains = served?.chains ?? [];
  const chainId = params.get("chain") ?? chains[0]?.chainId;
  const chain = chains.find((entry) => entry.chainId === chainId);
  return {
    chains,
    chainId,
    owner: params.get("owner") ?? chain?.owner ?? "",
    appId: params.get("app") ?? served?.applications?.[appName],
    model: served?.model ?? null,
  };
}

export function applicationUrl(chainId, appId) {
  return `/chains/${chainId}/applications/${appId}`;
}

// POST a GraphQL request; throw with the server's messages on errors.
export async function graphql(chainId, appId, query, variables = {}) {
  const response = await fetch(applicationUrl(chainId, appId), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors && body.errors.length) {
    throw new Error(body.errors.map((error) => error.message).join("; "));
  }
  return body;
}

// POST to a service's stream endpoint; call onPiece(text) for each chunk as it arrives.
export async function stream(chainId, appId, request, onPiece, signal) {
  const response = await fetch(`${applicationUrl(chainId, appId)}/stream`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(request),
    signal,
  });
  if (response.status === 404 || response.status === 405) {
    // A node without the stream endpoint: ask the same thing by GraphQL, in one piece.
    const field = request.messages ? "chat" : "prompt";
    const argument = request.messages ? "messages: $messages" : "prompt: $prompt";
    const declared = request.messages ? "$messages: [ChatTurnInput!]!" : "$prompt: String!";
    const body = await graphql(
      chainId,
      appId,
      `query(${declared}, $maxTokens: Int!, $temperature: Float!, $seed: String) { ${field}(${argument}, maxTokens: $maxTokens, temperature: $temperature, seed: $seed) }`,
      request,
    );
    onPiece(body.data[field]);
    return;
  }
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new Error(body?.errors?.[0]?.message ?? `HTTP ${response.status}`);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    if (value) onPiece(value);
  }
}

// Call onBlock({chainId, height, hash}) for every new block on chainId, through the node's
// GraphQL subscription (graphql-transport-ws on /ws); reconnects when the socket drops.
export function subscribeBlocks(chainId, onBlock, onStatus = () => {}) {
  let socket = null;
  let closed = false;
  const connect = () => {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${window.location.host}/ws`, "graphql-transport-ws");
    socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "connection_init" })));
    socket.addEventListener("message", (message) => {
      const event = JSON.parse(message.data);
      if (event.type === "connection_ack") {
        onStatus("live");
        socket.send(JSON.stringify({
          id: "blocks",
          type: "subscribe",
          payload: {
            query: "subscription($chainId: String!) { notifications(chainId: $chainId) { chainId height hash } }",
            variables: { chainId },
          },
        }));
      } else if (event.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      } else if (event.type === "next" && event.payload?.data?.notifications) {
        onBlock(event.payload.data.notifications);
      }
    });
    socket.addEventListener("close", () => {
      onStatus("offline");
      if (!closed) setTimeout(connect, 1000);
    });
  };
  connect();
  return () => {
    closed = true;
    socket?.close();
  };
}

export function short(text, keep = 8) {
  return text && text.length > 2 * keep + 1 ? `${text.slice(0, keep)}…${text.slice(-keep)}` : text;
}

export function formatBytes(size) {
  if (size === null || size === undefined) return "unknown";
  return size >= 1e6 ? `${(size / 1e6).toFixed(1)} MB` : `${(size / 1e3).toFixed(1)} kB`;
}

// A small element builder: el("div", {class: "x"}, child, "text").
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function renderModelCard(container, card) {
  container.replaceChildren(
    el("h2", {}, "Model"),
    el(
      "dl",
      {},
      el("dt", {}, "name"),
      el("dd", { "data-testid": "model-name" }, card.name),
      el("dt", {}, "size"),
      el("dd", {}, formatBytes(card.sizeBytes)),
      el("dt", {}, "content hash (BLAKE3)"),
      el("dd", { class: "hash", title: card.contentHash }, short(card.contentHash, 12)),
      el("dt", {}, card.manifestId ? "blob id (manifest)" : "URL"),
      el(
        "dd",
        { class: "hash", title: card.manifestId ?? card.url },
        card.manifestId ? short(card.manifestId, 16) : card.url,
      ),
      el("dt", {}, "on-chain since"),
      el("dd", {}, card.onChainSinceBlock === null ? "—" : `block ${card.onChainSinceBlock}`),
      el("dt", {}, "loaded here"),
      el("dd", {}, card.loaded ? "yes" : "not yet (first query loads it)"),
    ),
  );
}

export const MODEL_CARD_QUERY =
  "query { model { name manifestId url contentHash sizeBytes onChainSinceBlock loaded } }";
