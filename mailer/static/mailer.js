// Every form: ask first where it is marked data-confirm (deleting, disabling, blocking),
// and send a POST once: a second click while the first request is on its way is ignored,
// without asking again (a double click on "Send now" or "Save" would send it twice).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.sent) {
    event.preventDefault();
  } else if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  } else if (form.method.toLowerCase() === "post") {
    form.dataset.sent = "yes";
  }
});
// A page the back button restores from memory can be sent again.
window.addEventListener("pageshow", () => {
  for (const form of document.querySelectorAll("form[data-sent]")) delete form.dataset.sent;
});
