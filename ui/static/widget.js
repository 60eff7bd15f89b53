/* Shop assistant chat widget. Put one tag on any page of the shop:
 *   <script src="https://assistant.example.com/widget.js" defer></script>
 * It opens a floating chat bubble that talks to the server the script came from (JSON API /api/v1).
 * The conversation id and its session token are kept in this browser's localStorage.
 * Every text from the server is inserted with textContent (never as HTML). */
(function () {
  "use strict";
  if (window.__shopAssistantWidget) return;
  window.__shopAssistantWidget = true;
  var script = document.currentScript;
  var base = script && script.src ? new URL(script.src).origin : window.location.origin;
  var api = base + "/api/v1";
  var storageKey = "shop-assistant-widget:" + base;
  var lang = (navigator.language || "en").toLowerCase().indexOf("zh") === 0 ? "zh" : "en";
  var T = {
    en: { title: "Shop assistant", placeholder: "Ask about orders, returns, products…", send: "Send",
          human: "Talk to a human", hello: "Hello! How can I help you today?", sources: "Sources",
          inStock: "In stock", outOfStock: "Out of stock", error: "Sorry, something went wrong. Please try again.",
          waiting: "A member of our team has this conversation and will reply here.", agent: "Support team",
          thanks: "Thanks for the feedback!", open: "Open chat", close: "Close" },
    zh: { title: "购物助手", placeholder: "可以问订单、退货、商品…", send: "发送", human: "转人工",
          hello: "您好！请问有什么可以帮您？", sources: "来源", inStock: "有货", outOfStock: "缺货",
          error: "抱歉，出了点问题，请再试一次。", waiting: "客服同事已接手本对话，会在这里回复您。", agent: "客服",
          thanks: "感谢您的反馈！", open: "打开聊天", close: "关闭" }
  };
  function t(key) { return T[lang][key]; }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  var css = "#sa-w-bubble{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;" +
    "background:#4f46e5;color:#fff;font-size:26px;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000}" +
    "#sa-w-panel{position:fixed;right:20px;bottom:88px;width:360px;max-width:calc(100vw - 40px);height:520px;" +
    "max-height:calc(100vh - 120px);background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);display:none;" +
    "flex-direction:column;font:14px system-ui,sans-serif;color:#222;z-index:2147483000;overflow:hidden}" +
    "#sa-w-panel.sa-open{display:flex}#sa-w-head{background:#4f46e5;color:#fff;padding:10px 12px;display:flex;" +
    "align-items:center;gap:8px}#sa-w-head b{flex:1}#sa-w-head button{background:rgba(255,255,255,.2);color:#fff;border:0;" +
    "border-radius:6px;padding:4px 8px;cursor:pointer}#sa-w-log{flex:1;overflow-y:auto;padding:10px;background:#f7f7fb}" +
    ".sa-w-msg{margin:6px 0;padding:8px 10px;border-radius:10px;max-width:85%;white-space:pre-wrap;word-wrap:break-word}" +
    ".sa-w-user{background:#4f46e5;color:#fff;margin-left:auto}.sa-w-bot{background:#fff;border:1px solid #e5e7eb}" +
    ".sa-w-agent{background:#ecfdf5;border:1px solid #a7f3d0}.sa-w-note{font-size:12px;color:#666;text-align:center}" +
    ".sa-w-card{display:flex;gap:8px;border:1px solid #e5e7eb;border-radius:8px;padding:6px;margin-top:6px;background:#fff}" +
    ".sa-w-ph{width:48px;height:48px;border-radius:6px;background:#eef2ff;color:#4338ca;display:flex;align-items:center;" +
    "justify-content:center;font-weight:600;font-size:20px;flex:none}.sa-w-card img{width:48px;height:48px;object-fit:cover;" +
    "border-radius:6px}.sa-w-reason{font-size:12px;color:#555}.sa-w-src{font-size:12px;margin-top:6px}" +
    ".sa-w-quick{display:flex;flex-wrap:wrap;gap:4px;padding:4px 10px}.sa-w-quick button,.sa-w-rate button{border:1px solid #c7d2fe;" +
    "background:#eef2ff;border-radius:12px;padding:3px 8px;cursor:pointer;font-size:12px}.sa-w-rate{margin-top:4px}" +
    "#sa-w-form{display:flex;gap:6px;padding:8px;border-top:1px solid #eee}#sa-w-input{flex:1;padding:8px;border:1px solid #ddd;" +
    "border-radius:8px}#sa-w-send{background:#4f46e5;color:#fff;border:0;border-radius:8px;padding:0 12px;cursor:pointer}";
  var style = el("style"); style.textContent = css; document.head.appendChild(style);

  var bubble = el("button", null, "💬"); bubble.id = "sa-w-bubble"; bubble.setAttribute("aria-label", t("open"));
  var panel = el("div"); panel.id = "sa-w-panel"; panel.setAttribute("role", "dialog");
  var head = el("div"); head.id = "sa-w-head";
  var humanBtn = el("button", null, t("human")); humanBtn.id = "sa-w-human";
  var closeBtn = el("button", null, "×"); closeBtn.setAttribute("aria-label", t("close"));
  head.appendChild(el("b", null, t("title"))); head.appendChild(humanBtn); head.appendChild(closeBtn);
  var log = el("div"); log.id = "sa-w-log"; log.setAttribute("aria-live", "polite");
  var quick = el("div", "sa-w-quick"); quick.id = "sa-w-quick";
  var form = el("form"); form.id = "sa-w-form";
  var input = el("input"); input.id = "sa-w-input"; input.placeholder = t("placeholder"); input.maxLength = 2000;
  var sendBtn = el("button", null, t("send")); sendBtn.id = "sa-w-send"; sendBtn.type = "submit";
  form.appendChild(input); form.appendChild(sendBtn);
  panel.appendChild(head); panel.appendChild(log); panel.appendChild(quick); panel.appendChild(form);
  document.body.appendChild(bubble); document.body.appendChild(panel);

  var session = null, lastId = 0, busy = false, poller = null, started = false;
  var waiting = [];  // messages sent while a reply streams: shown at once, sent in order when it ends
  try { session = JSON.parse(localStorage.getItem(storageKey) || "null"); } catch (e) { session = null; }

  function scroll() { log.scrollTop = log.scrollHeight; }
  function note(text) { log.appendChild(el("div", "sa-w-msg sa-w-note", text)); scroll(); }
  function userMsg(text) { log.appendChild(el("div", "sa-w-msg sa-w-user", text)); scroll(); }
  function botMsg(text, cls) { var m = el("div", "sa-w-msg " + (cls || "sa-w-bot")); m.appendChild(el("div", "sa-w-text", text)); log.appendChild(m); scroll(); return m; }

  function renderExtras(box, reply, messageId) {
    (reply.cards || []).forEach(function (c) {
      var card = el("div", "sa-w-card"); card.setAttribute("data-product-id", c.product_id);
      if (c.image && /^(https?:)?\//.test(c.image)) { var img = el("img"); img.src = c.image; img.alt = c.title; card.appendChild(img); }
      else card.appendChild(el("div", "sa-w-ph", (c.title || "?").charAt(0)));
      var body = el("div");
      var link = el("a", null, c.title); link.href = base + "/demo/products/" + encodeURIComponent(c.product_id); link.target = "_blank";
      body.appendChild(link);
      body.appendChild(el("div", null, Number(c.price).toFixed(2) + " " + c.currency));
      body.appendChild(el("div", "sa-w-reason", c.reason));
      body.appendChild(el("div", "sa-w-reason", c.in_stock ? t("inStock") : t("outOfStock")));
      card.appendChild(body); box.appendChild(card);
    });
    if ((reply.sources || []).length) {
      var src = el("div", "sa-w-src"); src.appendChild(el("b", null, t("sources")));
      reply.sources.forEach(function (s) {
        var d = el("details", "sa-w-source"); d.appendChild(el("summary", null, s.title || s.id));
        d.appendChild(el("div", null, s.text || s.title)); src.appendChild(d);
      });
      box.appendChild(src);
    }
    if (messageId) {
      var rate = el("div", "sa-w-rate");
      [["👍", true], ["👎", false]].forEach(function (pair) {
        var b = el("button", "sa-w-thumb", pair[0]); b.type = "button";
        b.onclick = function () {
          call("POST", "/conversations/" + session.conversation_id + "/feedback", { message_id: messageId, helpful: pair[1] })
            .then(function () { rate.textContent = t("thanks"); }).catch(function () {});
        };
        rate.appendChild(b);
      });
      box.appendChild(rate);
    }
    scroll();
  }
  function setQuick(items) {
    quick.textContent = "";
    (items || []).slice(0, 4).forEach(function (text) {
      var b = el("button", null, text); b.type = "button"; b.onclick = function () { send(text); }; quick.appendChild(b);
    });
  }
  function call(method, path, body) {
    var headers = { "Content-Type": "application/json" };
    if (session) headers["X-Session-Token"] = session.session_token;
    return fetch(api + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          if (!r.ok) { var err = new Error((data.error && data.error.message) || t("error")); err.status = r.status; throw err; }
          return data;
        });
      });
  }
  function startConversation() {
    session = null;
    return call("POST", "/conversations", { channel: "widget", language: lang }).then(function (data) {
      session = data; localStorage.setItem(storageKey, JSON.stringify(data)); lastId = 0;
      log.textContent = ""; botMsg(t("hello"));
    });
  }
  function restore() {
    if (!session) return startConversation();
    return call("GET", "/conversations/" + session.conversation_id + "/messages").then(function (data) {
      log.textContent = "";
      if (!data.messages.length) botMsg(t("hello"));
      data.messages.forEach(showStored);
    }).catch(function (e) { if (e.status === 404) return startConversation(); throw e; });
  }
  function showStored(m) {
    lastId = Math.max(lastId, m.id);
    if (m.role === "customer") userMsg(m.text);
    else if (m.role === "assistant") renderExtras(botMsg(m.text), m, m.id);
    else if (m.role === "agent") { var box = botMsg(m.text, "sa-w-agent"); box.insertBefore(el("b", null, "👤 " + t("agent")), box.firstChild); renderExtras(box, {}, m.id); }
  }
  function poll() {
    if (!session || busy) return;
    call("GET", "/conversations/" + session.conversation_id + "/messages?after_id=" + lastId).then(function (data) {
      data.messages.forEach(function (m) { if (m.role === "agent") showStored(m); else lastId = Math.max(lastId, m.id); });
    }).catch(function () {});
  }
  function finish(box, textNode, outcome) {
    lastId = Math.max(lastId, outcome.message_id || 0, outcome.reply_message_id || 0);
    if (!outcome.reply) { box.remove(); note(t("waiting")); setQuick([]); return; }
    textNode.textContent = outcome.reply.text;
    renderExtras(box, outcome.reply, outcome.reply_message_id);
    setQuick(outcome.reply.suggestions);
  }
  function send(text) {
    text = (text || "").trim();
    if (!text || !session) return;
    input.value = ""; userMsg(text); setQuick([]);
    if (busy) { waiting.push(text); return; }
    run(text);
  }
  function run(text) {
    busy = true;
    var box = botMsg("…"), textNode = box.firstChild, buffer = "";
    fetch(api + "/conversations/" + session.conversation_id + "/messages?stream=true", {
      method: "POST", headers: { "Content-Type": "application/json", "X-Session-Token": session.session_token,
                                 "Accept": "text/event-stream" },
      body: JSON.stringify({ message: text })
    }).then(function (r) {
      if (!r.ok) return r.json().catch(function () { return {}; }).then(function (d) { throw new Error((d.error && d.error.message) || t("error")); });
      var reader = r.body.getReader(), decoder = new TextDecoder(), pending = "", written = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) return;
          pending += decoder.decode(chunk.value, { stream: true });
          var parts = pending.split("\n\n"); pending = parts.pop();
          parts.forEach(function (part) {
            var event = "message", data = "";
            part.split("\n").forEach(function (line) {
              if (line.indexOf("event: ") === 0) event = line.slice(7);
              else if (line.indexOf("data: ") === 0) data += line.slice(6);
            });
            var payload = data ? JSON.parse(data) : {};
            if (event === "delta") { written += payload.text; textNode.textContent = written; scroll(); }
            else if (event === "replace") { written = payload.text; textNode.textContent = written; }
            else if (event === "reply") finish(box, textNode, payload);
            else if (event === "error") textNode.textContent = payload.message || t("error");
          });
          return pump();
        });
      }
      return pump();
    }).catch(function (e) { textNode.textContent = e.message || t("error"); })
      .then(function () { busy = false; if (waiting.length) run(waiting.shift()); });
  }
  form.addEventListener("submit", function (e) { e.preventDefault(); send(input.value); });
  humanBtn.addEventListener("click", function () {
    if (!session || busy) return;
    userMsg(t("human"));
    call("POST", "/conversations/" + session.conversation_id + "/handoff").then(function (outcome) {
      var box = botMsg("…"); finish(box, box.firstChild, outcome);
    }).catch(function (e) { note(e.message); });
  });
  function open() {
    panel.classList.add("sa-open");
    if (!started) { started = true; restore().catch(function (e) { note(e.message || t("error")); }); }
    if (!poller) poller = setInterval(poll, 1500);  // an agent's message shows within 1.5 s
    input.focus();
  }
  function close() { panel.classList.remove("sa-open"); if (poller) { clearInterval(poller); poller = null; } }
  bubble.addEventListener("click", function () { if (panel.classList.contains("sa-open")) close(); else open(); });
  closeBtn.addEventListener("click", close);
})();
