// Every form: ask first where it, or the button that sent it, is marked data-confirm
// (deleting, disabling, blocking), and send a POST once: a second click while the first
// request is on its way is ignored, without asking again (a double click on "Send now" or
// "Save" would send it twice). What a POST form sends is kept for this tab too (see
// `keepTyped` below).
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = event.submitter?.dataset.confirm || form.dataset.confirm;
  if (form.dataset.sent) {
    event.preventDefault();
  } else if (question && !window.confirm(question)) {
    event.preventDefault();
  } else if (form.method.toLowerCase() === "post") {
    form.dataset.sent = "yes";
    keepTyped(form);
    showBusy(event.submitter);
  } else {
    carryTicks(form);
    showBusy(event.submitter);  // a page read again (a workbook's other sheet) takes seconds too
  }
});

// A form marked data-carry-ticks="id" sends the boxes ticked in that other form too, and its
// fields marked data-carried (the import preview's sheet and columns forms: the page they
// ask for keeps the mailings ticked below them). Without this script the page ticks anew.
function carryTicks(form) {
  const source = document.getElementById(form.dataset.carryTicks || "");
  if (!source) return;
  for (const copy of form.querySelectorAll("[data-copied]")) copy.remove();  // sent before
  for (const field of source.querySelectorAll("input:checked, input[data-carried]")) {
    const copy = document.createElement("input");
    copy.type = "hidden";
    copy.name = field.name;
    copy.value = field.value;
    copy.dataset.copied = "yes";
    form.append(copy);
  }
}

// A button marked data-busy says so while its request is on its way, a spinner before
// the words (reading a workbook of a million rows takes seconds). Its words come back
// with the page, should the back button restore it from memory.
function showBusy(button) {
  if (!button?.dataset.busy) return;
  button.dataset.idle = button.textContent;
  const spinner = document.createElement("span");
  spinner.className = "spinner-border spinner-border-sm me-2";
  spinner.setAttribute("aria-hidden", "true");
  button.replaceChildren(spinner, button.dataset.busy);
}

// A form sent back with errors: its first field with one takes the focus, so that the
// keyboard, and a screen reader (which says the field's error with it: aria-describedby),
// start where the problem is, not at the top of a page that looks as it did.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelector("main [aria-invalid=true]")?.focus();
});

// A table wider than its box scrolls sideways in it: a keyboard reaches the box (Tab) to
// scroll it with the arrow keys, and a screen reader names it, after the page's heading.
// A box that holds links or buttons is reached through them already.
function reachScrollingTables() {
  for (const box of document.querySelectorAll(".table-responsive:not([tabindex])")) {
    if (box.scrollWidth <= box.clientWidth || box.querySelector("a, button, input, select")) continue;
    box.tabIndex = 0;
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", document.querySelector("h1")?.textContent.trim() || document.title);
  }
}
document.addEventListener("DOMContentLoaded", reachScrollingTables);
window.addEventListener("resize", reachScrollingTables);

// A page the back button restores from memory can be sent again.
window.addEventListener("pageshow", () => {
  for (const form of document.querySelectorAll("form[data-sent]")) delete form.dataset.sent;
  for (const button of document.querySelectorAll("[data-idle]")) {
    button.textContent = button.dataset.idle;
    delete button.dataset.idle;
  }
});

// What was typed in a form survives its session expiring. Each POST form's fields
// (not passwords, files or the CSRF token) are kept for this tab as it is sent; the
// "form expired" page's link back asks the form's page to put them back.
const TYPED = "mailer:typed:";
const RESTORE = "mailer:restore";
const kept = (field) =>
  field.name && field.name !== "csrf_token" && !["password", "file", "submit"].includes(field.type);

function keepTyped(form) {
  const fields = {};
  for (const field of form.elements) {
    if (!kept(field) || (["checkbox", "radio"].includes(field.type) && !field.checked)) continue;
    (fields[field.name] ||= []).push(field.value);
  }
  sessionStorage.setItem(TYPED + location.pathname, JSON.stringify({ action: form.action, fields }));
}

document.getElementById("back-to-form")?.addEventListener("click", (event) => {
  const link = event.currentTarget;
  sessionStorage.setItem(RESTORE, JSON.stringify({ path: new URL(link.href).pathname, notice: link.dataset.restored }));
});

(() => {
  const restore = JSON.parse(sessionStorage.getItem(RESTORE) || "null");
  if (!restore || restore.path !== location.pathname) return;
  sessionStorage.removeItem(RESTORE);
  const typed = JSON.parse(sessionStorage.getItem(TYPED + location.pathname) || "null");
  const form = typed && [...document.forms].find((one) => one.action === typed.action);
  if (!form) return;
  for (const field of form.elements) {
    if (!kept(field)) continue;
    const values = typed.fields[field.name] || [];
    if (["checkbox", "radio"].includes(field.type)) field.checked = values.includes(field.value);
    else if (values.length) field.value = values.shift();
  }
  const notice = document.createElement("div");
  notice.className = "alert alert-info";
  notice.setAttribute("role", "status");
  notice.textContent = restore.notice;
  form.before(notice);
})();

// A new account starts in the browser's time zone (the register form): the times its
// owner types are read in it. The server keeps it only if it is a zone it knows.
for (const field of document.querySelectorAll("input[data-browser-zone]")) {
  field.value = field.value || Intl.DateTimeFormat().resolvedOptions().timeZone || "";
}

// A preview frame (a message's HTML part) takes the focus when Tab goes into it, but a
// browser neither draws a ring round it nor fires its focus events: the page only sees
// its own window lose the focus, to the frame. The frame is marked for its ring meanwhile.
const previewFrames = document.querySelectorAll("iframe.preview-frame");
const markFocusedFrame = () => {
  for (const frame of previewFrames) frame.classList.toggle("has-focus", document.activeElement === frame);
};
if (previewFrames.length) {
  window.addEventListener("blur", () => setTimeout(markFocusedFrame));  // activeElement is set after
  window.addEventListener("focus", markFocusedFrame);
}

// A list's rows ticked for an action on them all (deleting clients): the box in the
// header ticks or clears every row of the page, and the action's button is greyed out
// while no row is ticked. Without this script the rows are ticked one by one, and the
// server says when none was.
const boxesNamed = (name) => [...document.querySelectorAll(`input[type=checkbox][name="${name}"]`)];
function showTicked() {
  for (const button of document.querySelectorAll("[data-needs-ticked]")) {
    button.disabled = !boxesNamed(button.dataset.needsTicked).some((box) => box.checked);
  }
  for (const all of document.querySelectorAll("input[data-tick-all]")) {
    const boxes = boxesNamed(all.dataset.tickAll);
    const ticked = boxes.filter((box) => box.checked).length;
    all.checked = ticked > 0 && ticked === boxes.length;
    all.indeterminate = ticked > 0 && ticked < boxes.length;
  }
}
document.addEventListener("change", (event) => {
  const name = event.target.dataset?.tickAll;
  if (name) for (const box of boxesNamed(name)) box.checked = event.target.checked;
  showTicked();
});
window.addEventListener("pageshow", showTicked);  // the back button keeps the boxes' state

// A message's fields: the toolbar under each puts a placeholder in where the caret is, in
// place of what is selected. Without this script the toolbars stay hidden. Each is one
// stop of the Tab key; the arrow keys, Home and End move between its buttons.
const TOOLBAR_KEYS = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
for (const toolbar of document.querySelectorAll("[data-insert-into]")) {
  const field = document.getElementById(toolbar.dataset.insertInto);
  if (!field) continue;
  const buttons = [...toolbar.querySelectorAll("button[data-insert]")];
  const focusButton = (button) => {
    for (const each of buttons) each.tabIndex = each === button ? 0 : -1;
    button.focus();
  };
  for (const [index, button] of buttons.entries()) button.tabIndex = index === 0 ? 0 : -1;
  toolbar.hidden = false;
  toolbar.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-insert]");
    if (!button) return;
    field.setRangeText(button.dataset.insert, field.selectionStart, field.selectionEnd, "end");
    field.focus();
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });
  toolbar.addEventListener("keydown", (event) => {
    const at = buttons.indexOf(document.activeElement);
    const step = TOOLBAR_KEYS[event.key];
    let to;
    if (at < 0) return;
    if (event.key === "Home") to = 0;
    else if (event.key === "End") to = buttons.length - 1;
    else if (step) to = (at + step + buttons.length) % buttons.length;  // round the ends
    else return;
    event.preventDefault();
    focusButton(buttons[to]);
  });
}

// The login page's demo logins (debug mode only): each button logs in with its own.
for (const button of document.querySelectorAll("button[data-demo-email]")) {
  button.hidden = false;
  button.addEventListener("click", () => {
    const email = document.getElementById("email");
    email.value = button.dataset.demoEmail;
    document.getElementById("password").value = button.dataset.demoPassword;
    email.form.requestSubmit();
  });
}

// A page's live progress (a mailing's send, a client import): ask `url` for its JSON every
// `every` ms while `onData(data, say)` returns true. The words go to `state`, a live
// region, only when they change (each write is read out). A lost login and a gone object
// (404) end the checks; a failed one (the server restarting, the network) is said and
// tried again, less often. `texts` holds the page's words for those: loggedOut, gone, failed.
function mailerPoll({ url, every, state, texts, onData }) {
  const say = (text) => { if (state.textContent.trim() !== text) state.textContent = text; };
  let failures = 0;
  const check = async () => {
    let response = null;
    try {
      response = await fetch(url, { headers: { Accept: "application/json" }, redirect: "manual" });
    } catch (error) {}  // no answer at all
    if (response && response.type === "opaqueredirect") return say(texts.loggedOut);
    if (response && response.status === 404) return say(texts.gone);
    if (!response || !response.ok) {
      failures += 1;
      say(texts.failed);
      return setTimeout(check, Math.min(every * 2 ** (failures - 1), 60000));
    }
    failures = 0;
    if (onData(await response.json(), say)) setTimeout(check, every);
  };
  setTimeout(check, every);
}
