// Keeps the "… ago" ages on a page current while it stays open. The pages are complete
// without it: the server renders every age when it builds the page.
(function () {
  "use strict";
  function fmt(a) {
    if (a < 0) return (-a) + " s in the future";
    if (a < 60) return a + " s";
    if (a < 3600) return Math.floor(a / 60) + " min";
    if (a < 86400) return Math.floor(a / 3600) + " h";
    return Math.floor(a / 86400) + " d";
  }
  function tick() {
    var now = Math.floor(Date.now() / 1000);
    var els = document.querySelectorAll("[data-ts]");
    for (var i = 0; i < els.length; i++) {
      var ts = parseInt(els[i].getAttribute("data-ts"), 10);
      if (!isNaN(ts)) els[i].textContent = fmt(now - ts);
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.documentElement.setAttribute("data-js", "on");
    tick();
    setInterval(tick, 1000);
  });
})();
