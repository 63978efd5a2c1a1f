// The colour theme: the one chosen on this browser with the footer's Theme menu, else the
// system's (light or dark), followed as it changes. Loaded in <head>, so that a page is
// drawn in its theme from the start (no white flash before a dark page). Without this
// script pages are light.
(() => {
  const KEY = "mailer:theme";
  const systemDark = window.matchMedia("(prefers-color-scheme: dark)");

  // "light", "dark" or "auto" (the system's).
  const chosen = () => {
    try {
      const choice = localStorage.getItem(KEY);
      return choice === "light" || choice === "dark" ? choice : "auto";
    } catch {
      return "auto"; // a browser that refuses storage
    }
  };
  const apply = (choice = chosen()) => {
    document.documentElement.dataset.bsTheme =
      choice === "auto" ? (systemDark.matches ? "dark" : "light") : choice;
  };
  const keep = (choice) => {
    try {
      if (choice === "auto") localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, choice);
    } catch {
      // not kept: this page changes all the same
    }
  };

  apply();
  systemDark.addEventListener("change", () => apply());
  // The browser's other tabs of mailer follow a choice made in one.
  window.addEventListener("storage", (event) => {
    if (event.key === KEY || event.key === null) apply();
  });

  document.addEventListener("DOMContentLoaded", () => {
    const menu = document.getElementById("theme");
    if (!menu) return;
    menu.value = chosen();
    menu.closest("[hidden]")?.removeAttribute("hidden");
    menu.addEventListener("change", () => {
      keep(menu.value);
      apply(menu.value);
    });
  });
})();
