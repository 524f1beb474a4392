/* Harbour: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";

  /* A table or chart wider than its box scrolls sideways; a keyboard user can only scroll it once it
     can take focus, so such boxes become focusable regions named after their table or heading. */
  var SCROLLERS = ".table-wrap, .chart-scroll";

  function regionName(box) {
    var caption = box.querySelector("caption");
    if (caption && caption.textContent.trim()) return caption.textContent.trim();
    var section = box.closest("section, .card, figure");
    var heading = section && section.querySelector("h1, h2, h3, figcaption");
    return heading ? heading.textContent.trim() : "Scrollable table";
  }

  function markScrollers(root) {
    (root || document).querySelectorAll(SCROLLERS).forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        if (!box.hasAttribute("aria-label")) box.setAttribute("aria-label", regionName(box));
      } else if (box.getAttribute("tabindex") === "0") {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { markScrollers(document); });
  document.addEventListener("htmx:afterSettle", function () { markScrollers(document); });
  window.addEventListener("resize", function () { markScrollers(document); });
})();
