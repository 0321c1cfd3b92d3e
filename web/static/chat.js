// 童助 web chat: after htmx appends a new turn, show its start and empty the text box.
// Everything works without this file (and without htmx): each form then posts and the page re-renders.
document.addEventListener("htmx:afterSwap", function (e) {
  if (e.detail.target && e.detail.target.id === "log") {
    var turns = document.querySelectorAll("#log .turn");
    if (turns.length) turns[turns.length - 1].scrollIntoView({block: "start"});
  }
});
document.addEventListener("htmx:afterRequest", function (e) {
  var form = e.detail.elt;
  if (form && form.id === "say" && e.detail.successful) form.reset();
});
