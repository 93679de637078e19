// "Stories" for the llm application: the pinned model's answer, streamed as it is generated.
import { MODEL_CARD_QUERY, el, graphql, loadConfig, renderModelCard, short, stream } from "./showcase.js";

const $ = (id) => document.getElementById(id);
let config = null;
let controller = null;

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
  await refreshModelCard();
}

start();
