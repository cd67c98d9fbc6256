// Placeholder dashboard (the real one comes from helper "dash"): shows the
// live feed's snapshot and changes as text, never as HTML.
"use strict";
(function () {
  const status = document.getElementById("status");
  const list = document.getElementById("changes");
  const feed = new EventSource("live");
  const show = (text) => {
    const item = document.createElement("li");
    item.textContent = text;
    list.prepend(item);
    while (list.children.length > 200) list.lastChild.remove();
  };
  feed.addEventListener("snapshot", (e) => {
    const s = JSON.parse(e.data);
    status.textContent = "seed " + s.seed + " — " + s.plan.words;
  });
  feed.addEventListener("changes", (e) => {
    for (const c of JSON.parse(e.data).changes) show(c.type + " " + JSON.stringify(c));
  });
  feed.onerror = () => { status.textContent = "Disconnected; reconnecting…"; };
})();
