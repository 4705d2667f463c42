// Follow the Airflow UI's colour mode (next-themes keeps it in localStorage "theme";
// same origin, so the embedded catalog can read it), else the system preference.
(function () {
  "use strict";
  function airflowMode() {
    try {
      var parentRoot = window.parent && window.parent !== window && window.parent.document.documentElement;
      if (parentRoot && parentRoot.classList.contains("dark")) return "dark";
      if (parentRoot && parentRoot.classList.contains("light")) return "light";
    } catch (e) { /* not embedded in Airflow: fall through */ }
    try {
      var stored = window.localStorage.getItem("theme");
      if (stored === "dark" || stored === "light") return stored;
    } catch (e) { /* storage blocked */ }
    return null;
  }
  function apply() {
    var mode = airflowMode();
    if (mode) document.documentElement.setAttribute("data-theme", mode);
    else document.documentElement.removeAttribute("data-theme");
  }
  apply();
  window.addEventListener("storage", apply);
  try {
    if (window.parent !== window) {
      new MutationObserver(apply).observe(window.parent.document.documentElement, {
        attributes: true, attributeFilter: ["class", "data-theme", "style"]
      });
    }
  } catch (e) { /* not same-origin: the stored mode and the system preference apply */ }
})();
