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

  /* Search results and older timeline entries arrive without a page load; the new content's element
     with data-announce says what arrived, through the one live region on the page. What the page
     showed when it loaded is not announced. */
  function announceArrivals(quietly) {
    var announcer = document.getElementById("announcer");
    var fresh = document.querySelectorAll("[data-announce]:not([data-announced])");
    fresh.forEach(function (element) { element.setAttribute("data-announced", ""); });
    if (announcer && fresh.length && !quietly) {
      announcer.textContent = fresh[fresh.length - 1].getAttribute("data-announce");
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    markScrollers(document);
    announceArrivals(true);
  });
  document.addEventListener("htmx:afterSettle", function () {
    markScrollers(document);
    announceArrivals(false);
  });
  window.addEventListener("resize", function () { markScrollers(document); });
})();
