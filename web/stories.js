// "Stories" for the llm application: the pinned model's answer, streamed as it is generated.
import { MODEL_CARD_QUERY, el, graphql, loadConfig, renderModelCard, short, stream } from "./showcase.js";

const $ = (id) => document.getElementById(id);
let config = null;
let controller = null;
let lastRequest = null;

const ATTESTATIONS_QUERY =
  "query { attestations { index prompt messages outputHash attester blockHeight settings { maxTokens temperature seed } } }";

async function refreshAttestations() {
  try {
    const body = await graphql(config.chainId, config.appId, ATTESTATIONS_QUERY);
    const items = body.data.attestations.map((attestation) => {
      const verdict = el("span", { class: "meta" });
      const verify = el("button", {
        type: "button",
        class: "secondary",
        onclick: async () => {
          verdict.textContent = " re-running…";
          try {
            const answer = await graphql(
              config.chainId, config.appId,
              "query($i: Int!) { verifyAttestation(index: $i) { matches computedHash } }",
              { i: attestation.index },
            );
            const result = answer.data.verifyAttestation;
            verdict.textContent = result.matches ? " ✓ the same output" : ` ✗ differs (${short(result.computedHash)})`;
          } catch (error) {
            verdict.textContent = ` ${error.message}`;
          }
        },
      }, "verify");
      const asked = attestation.prompt || attestation.messages.join(" / ");
      return el(
        "li", { "data-testid": "attestation", "data-output-hash": attestation.outputHash },
        el("div", {}, `“${asked}”`),
        el("div", { class: "meta" }, `output ${short(attestation.outputHash)} · block ${attestation.blockHeight} · by ${short(attestation.attester ?? "?", 6)} · ${attestation.settings.maxTokens} tokens at T=${attestation.settings.temperature}`),
        verify, verdict,
      );
    });
    $("attestations").replaceChildren(...items);
  } catch (error) {
    $("attestations").replaceChildren(el("li", { class: "error" }, error.message));
  }
}

async function attest() {
  if (!lastRequest) return;
  $("attest").disabled = true;
  $("attest-status").textContent = "re-running and publishing…";
  const chat = Boolean(lastRequest.messages);
  const field = chat ? "attestChat" : "attestPrompt";
  const declared = chat ? "$messages: [ChatTurnInput!]!" : "$prompt: String!";
  const argument = chat ? "messages: $messages" : "prompt: $prompt";
  try {
    const body = await graphql(
      config.chainId, config.appId,
      `mutation(${declared}, $maxTokens: Int!, $temperature: Float!, $seed: String) { ${field}(${argument}, maxTokens: $maxTokens, temperature: $temperature, seed: $seed) { outputHash } }`,
      lastRequest,
    );
    $("attest-status").textContent = `attested: output ${short(body.data[field].outputHash)} in block ${short(body.blockHash ?? "?")}`;
    await refreshAttestations();
  } catch (error) {
    $("attest-status").textContent = error.message;
  } finally {
    $("attest").disabled = false;
  }
}

async function refreshModelCard() {
  try {
    const body = await graphql(config.chainId, config.appId, MODEL_CARD_QUERY);
    renderModelCard($("model-card"), body.data.model);
  } catch (error) {
    $("model-card").replaceChildren(el("h2", {}, "Model"), el("p", { class: "error" }, error.message));
  }
}

async function tell(event) {
  event.preventDefault();
  const prompt = $("prompt").value;
  const request = {
    maxTokens: Number($("max-tokens").value),
    temperature: Number($("temperature").value),
    seed: $("seed").value,
  };
  if ($("chat").checked) request.messages = [{ role: "user", content: prompt }];
  else request.prompt = prompt;
  const story = $("story");
  story.textContent = "";
  $("error").textContent = "";
  $("stats").textContent = "waiting for the first words…";
  $("attest").hidden = true;
  $("attest-status").textContent = "";
  $("tell").disabled = true;
  $("stop").disabled = false;
  controller = new AbortController();
  const started = performance.now();
  let pieces = 0;
  try {
    await stream(config.chainId, config.appId, request, (piece) => {
      pieces += 1;
      story.append(piece);
      const seconds = (performance.now() - started) / 1000;
      $("stats").textContent = `${pieces} pieces in ${seconds.toFixed(1)} s`;
    }, controller.signal);
    $("stats").textContent += " · done";
    lastRequest = request;
    $("attest").hidden = false;
    await refreshModelCard();
  } catch (error) {
    if (error.name !== "AbortError") $("error").textContent = error.message;
    else $("stats").textContent += " · stopped";
  } finally {
    $("tell").disabled = false;
    $("stop").disabled = true;
  }
}

async function start() {
  config = await loadConfig("llm");
  if (!config.chainId || !config.appId) {
    $("error").textContent = "No chain or application: open this page with ?chain=…&app=…";
    return;
  }
  $("chain").textContent = short(config.chainId, 10);
  $("chain").title = config.chainId;
  $("story-form").addEventListener("submit", tell);
  $("stop").addEventListener("click", () => controller?.abort());
  $("attest").addEventListener("click", attest);
  await refreshModelCard();
  await refreshAttestations();
}

start();
