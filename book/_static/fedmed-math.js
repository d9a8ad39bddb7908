/* FedMed: maths wider than its box scrolls sideways inside the box, with a visible cue.
 *
 * The theme (pydata-sphinx-theme) gives every `span.math` and `div.math` `overflow:
 * hidden`, so on a phone an inline formula longer than the line was cut off, and a wide
 * display formula scrolled with nothing showing that more was there. MathJax 3 cannot
 * break a formula across lines, so a formula wider than its box gets a scrolling box:
 * the box gets the class `fedmed-scroll` (overflow-x: auto, a thin scrollbar, keyboard
 * focus) and `fedmed-more-right` / `fedmed-more-left` while there is more to see on
 * that side (a fade at that edge, custom.css). The boxes are re-measured whenever they
 * change size (a folded solution opens, the phone turns), through a ResizeObserver.
 * When all maths has been measured, <html> gets `data-fedmed-math="ready"`.
 */
(function () {
  "use strict";

  // The box that scrolls for one typeset formula: the inline `span.math`, or the display
  // `mjx-container` itself (its parent `div.math` stays the theme's flex box).
  function boxOf(container) {
    if (container.getAttribute("display") === "true") return container;
    const span = container.parentElement;
    return span && span.matches("span.math") ? span : null;
  }

  function update(box) {
    const math = box.querySelector("mjx-math");
    if (!math || box.clientWidth === 0) return; // hidden (a folded solution): wait
    const wide = math.getBoundingClientRect().width > box.clientWidth + 1;
    box.classList.toggle("fedmed-scroll", wide);
    if (wide) {
      if (!box.hasAttribute("tabindex")) box.setAttribute("tabindex", "0");
      const left = box.scrollLeft;
      const rest = box.scrollWidth - box.clientWidth - left;
      box.classList.toggle("fedmed-more-left", left > 1);
      box.classList.toggle("fedmed-more-right", rest > 1);
    } else {
      box.classList.remove("fedmed-more-left", "fedmed-more-right");
    }
  }

  function init() {
    const boxes = new Set();
    document.querySelectorAll("mjx-container").forEach(function (c) {
      const box = boxOf(c);
      if (box) boxes.add(box);
    });
    const observer = "ResizeObserver" in window
      ? new ResizeObserver(function (entries) { entries.forEach(function (e) { update(e.target); }); })
      : null;
    boxes.forEach(function (box) {
      update(box);
      box.addEventListener("scroll", function () { update(box); }, { passive: true });
      if (observer) observer.observe(box);
    });
    if (!observer) window.addEventListener("resize", function () { boxes.forEach(update); });
    document.documentElement.dataset.fedmedMath = "ready";
  }

  function whenTypeset(tries) {
    const mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(init);
    } else if (tries > 0) {
      setTimeout(function () { whenTypeset(tries - 1); }, 100);
    } else {
      document.documentElement.dataset.fedmedMath = "ready"; // no maths on this page
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { whenTypeset(100); });
  } else {
    whenTypeset(100);
  }
})();
