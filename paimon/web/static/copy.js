// Copy buttons: <button data-copy="input-id"> copies that input's value. Used by the
// upload page and the status page.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  const label = button.textContent;
  try {
    // The Clipboard API needs a secure context (HTTPS or localhost).
    await navigator.clipboard.writeText(field.value);
  } catch {
    field.select();
    document.execCommand("copy");
  }
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 2000);
});
