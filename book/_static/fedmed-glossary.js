/* FedMed: a link to a glossary term shows the term, its Chinese name and its definition
 * on hover or keyboard focus, without leaving the page (issue 12).
 *
 * The entries come from `window.FEDMED_GLOSSARY` (_static/fedmed-glossary-data.js,
 * written at build time by book/_ext/fedmed_glossary.py from the glossary page). One
 * tooltip element (`#fedmed-glossary-tip`, role "tooltip") is shown below the link
 * (above it near the bottom of the window), referenced by the link's
 * `aria-describedby`; it stays open while the pointer is over it and closes on Escape.
 */
(function () {
  "use strict";

  const TIP_ID = "fedmed-glossary-tip";
  let tip = null;
  let current = null;
  let hideTimer = null;

  function termId(link) {
    const href = link.getAttribute("href") || "";
    const i = href.indexOf("#term-");
    if (i < 0) return null;
    const path = href.slice(0, i);
    if (path && !/(^|\/)glossary\.html$/.test(path)) return null;
    return decodeURIComponent(href.slice(i + 1));
  }

  function entryFor(link) {
    const data = window.FEDMED_GLOSSARY;
    const id = link && termId(link);
    return data && id && Object.prototype.hasOwnProperty.call(data, id) ? data[id] : null;
  }

  function element() {
    if (tip) return tip;
    tip = document.createElement("div");
    tip.id = TIP_ID;
    tip.className = "fedmed-glossary-tip";
    tip.setAttribute("role", "tooltip");
    tip.hidden = true;
    tip.addEventListener("mouseenter", function () { clearTimeout(hideTimer); });
    tip.addEventListener("mouseleave", function () { scheduleHide(); });
    document.body.appendChild(tip);
    return tip;
  }

  function place(link) {
    const r = link.getBoundingClientRect();
    const margin = 8;
    tip.style.left = "0px";
    tip.style.top = "0px";
    const w = tip.offsetWidth;
    const h = tip.offsetHeight;
    const left = Math.max(margin, Math.min(r.left, window.innerWidth - w - margin));
    let top = r.bottom + 6;
    if (top + h > window.innerHeight - margin && r.top - h - 6 > margin) top = r.top - h - 6;
    tip.style.left = left + window.scrollX + "px";
    tip.style.top = top + window.scrollY + "px";
  }

  function show(link) {
    const entry = entryFor(link);
    if (!entry) return;
    clearTimeout(hideTimer);
    const el = element();
    if (current && current !== link) current.removeAttribute("aria-describedby");
    current = link;
    el.textContent = "";
    const head = document.createElement("div");
    head.className = "fedmed-glossary-tip__head";
    const term = document.createElement("strong");
    term.textContent = entry.term;
    head.appendChild(term);
    if (entry.zh) {
      const zh = document.createElement("span");
      zh.className = "fedmed-glossary-tip__zh";
      zh.lang = "zh-Hans";
      zh.textContent = entry.zh;
      head.appendChild(document.createTextNode(" "));
      head.appendChild(zh);
    }
    const body = document.createElement("div");
    body.className = "fedmed-glossary-tip__text";
    body.textContent = entry.text;
    el.appendChild(head);
    el.appendChild(body);
    el.hidden = false;
    link.setAttribute("aria-describedby", TIP_ID);
    place(link);
    const mj = window.MathJax;
    if (entry.text.indexOf("\\(") >= 0 && mj && mj.typesetPromise) {
      mj.typesetPromise([body]).then(function () { if (current === link) place(link); });
    }
  }

  function hide() {
    clearTimeout(hideTimer);
    if (tip) tip.hidden = true;
    if (current) current.removeAttribute("aria-describedby");
    current = null;
  }

  function scheduleHide() {
    clearTimeout(hideTimer);
    hideTimer = setTimeout(hide, 200);
  }

  function glossaryLink(target) {
    const link = target && target.closest ? target.closest("a.reference[href*='#term-']") : null;
    return link && entryFor(link) ? link : null;
  }

  document.addEventListener("mouseover", function (e) {
    const link = glossaryLink(e.target);
    if (link) show(link);
  });
  document.addEventListener("mouseout", function (e) {
    const link = glossaryLink(e.target);
    if (link && !(e.relatedTarget && link.contains(e.relatedTarget))) scheduleHide();
  });
  document.addEventListener("focusin", function (e) {
    const link = glossaryLink(e.target);
    if (link) show(link);
  });
  document.addEventListener("focusout", function (e) {
    if (glossaryLink(e.target)) scheduleHide();
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && current) hide();
  });
  window.addEventListener("resize", function () { if (current) place(current); });
})();
