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

  /* Back-office keyboard shortcuts, listed on the "?" overlay in staff/layout.html. Keys typed into a
     field are the field's own. */
  var pendingG = false;

  function typingInField(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function showShortcuts(show) {
    var overlay = document.getElementById("shortcuts");
    if (!overlay) return;
    overlay.hidden = !show;
    if (show) {
      overlay.returnFocus = document.activeElement;
      overlay.focus();
    } else if (overlay.returnFocus && overlay.returnFocus.focus) {
      overlay.returnFocus.focus();
    }
  }

  function focusSearch(overlay) {
    var search = document.querySelector("main input[type=search]");
    if (search) {
      search.focus();
      search.select();
    } else {
      window.location.assign(overlay.getAttribute("data-donors") + "?focus=search");
    }
  }

  document.addEventListener("keydown", function (event) {
    var overlay = document.getElementById("shortcuts");
    if (!overlay || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && !overlay.hidden) { showShortcuts(false); return; }
    if (typingInField(event.target)) return;
    if (pendingG) {
      pendingG = false;
      var places = {d: "data-donors", t: "data-tasks", h: "data-home"};
      if (places[event.key]) {
        event.preventDefault();
        window.location.assign(overlay.getAttribute(places[event.key]));
      }
      return;
    }
    if (event.key === "g") { pendingG = true; return; }
    if (event.key === "?") { event.preventDefault(); showShortcuts(overlay.hidden); return; }
    if (event.key === "/") { event.preventDefault(); focusSearch(overlay); }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-open-shortcuts]")) showShortcuts(true);
    else if (event.target.closest("[data-close-shortcuts]")) showShortcuts(false);
    else if (event.target.id === "shortcuts") showShortcuts(false);
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-open-shortcuts]").forEach(function (button) { button.hidden = false; });
    if (/[?&]focus=search\b/.test(window.location.search)) {
      var search = document.querySelector("main input[type=search]");
      if (search) search.focus();
    }
    markScrollers(document);
    announceArrivals(true);
  });
  document.addEventListener("htmx:afterSettle", function () {
    markScrollers(document);
    announceArrivals(false);
  });
  window.addEventListener("resize", function () { markScrollers(document); });
})();
