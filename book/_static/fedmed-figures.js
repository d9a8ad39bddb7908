/* FedMed: a wide figure can be enlarged on a phone and scrolled sideways in its box.
 *
 * Figures are PNG images drawn by the notebooks; a few are about 1200 px wide and,
 * shrunk to a phone's 360 px, their text is about 3 px high. When an output image is
 * shown at less than 60% of its own width, an "Enlarge figure" button is put below it;
 * pressing it shows the image at its own size inside its output box, which scrolls
 * sideways with the same cue as wide maths (custom.css: `.fedmed-scroll`, a fade at the
 * edge that has more); pressing it again ("Fit figure to screen") shrinks it back.
 * The page itself never scrolls sideways. Re-measured when the window changes size.
 */
(function () {
  "use strict";

  const SHRUNK = 0.6;

  function boxOf(img) {
    return img.closest(".output, .cell_output") || img.parentElement;
  }

  function updateCue(box) {
    const rest = box.scrollWidth - box.clientWidth - box.scrollLeft;
    box.classList.toggle("fedmed-more-left", box.scrollLeft > 1);
    box.classList.toggle("fedmed-more-right", rest > 1);
  }

  function setZoom(img, button, zoomed) {
    const box = boxOf(img);
    img.classList.toggle("fedmed-figure-zoomed", zoomed);
    box.classList.toggle("fedmed-scroll", zoomed);
    button.setAttribute("aria-pressed", zoomed ? "true" : "false");
    button.textContent = zoomed ? "Fit figure to screen" : "Enlarge figure";
    if (zoomed) {
      if (!box.hasAttribute("tabindex")) box.setAttribute("tabindex", "0");
      updateCue(box);
    } else {
      box.classList.remove("fedmed-more-left", "fedmed-more-right");
    }
  }

  function check(img) {
    if (!img.naturalWidth) return;
    let button = img.fedmedZoomButton;
    const zoomed = img.classList.contains("fedmed-figure-zoomed");
    const box = boxOf(img);
    const shrunk = !zoomed && box.clientWidth > 0 && box.clientWidth < SHRUNK * img.naturalWidth;
    if (!button && !shrunk) return;
    if (!button) {
      button = document.createElement("button");
      button.type = "button";
      button.className = "fedmed-zoom-button";
      img.fedmedZoomButton = button;
      box.insertAdjacentElement("afterend", button);
      button.addEventListener("click", function () {
        setZoom(img, button, !img.classList.contains("fedmed-figure-zoomed"));
      });
      box.addEventListener("scroll", function () {
        if (img.classList.contains("fedmed-figure-zoomed")) updateCue(box);
      }, { passive: true });
      setZoom(img, button, false);
    }
    // Wide enough again (the phone turned, a desktop window): no button, fitted image.
    const needed = zoomed || shrunk;
    button.hidden = !needed;
    if (!needed && zoomed) setZoom(img, button, false);
  }

  function init() {
    const images = Array.from(document.querySelectorAll(".bd-article .cell_output img"));
    images.forEach(function (img) {
      if (img.complete) check(img);
      else img.addEventListener("load", function () { check(img); });
    });
    let timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { images.forEach(check); }, 150);
    });
    document.documentElement.dataset.fedmedFigures = "ready";
  }

  if (document.readyState === "complete") init();
  else window.addEventListener("load", init);
})();
