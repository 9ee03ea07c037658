// The console works without JavaScript; with it, a form marked data-confirm (delete,
// revoke) asks first.
"use strict";

document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
