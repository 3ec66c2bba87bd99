// Optional niceties for the web edition; everything can be read without this script.
(function () {
  "use strict";
  var tools = document.getElementById("note-tools");
  if (!tools) return;
  tools.hidden = false;
  var notes = Array.prototype.slice.call(document.querySelectorAll("aside.note"));
  function setOpen(open) {
    notes.forEach(function (n) { n.classList.toggle("open", open); });
  }
  tools.addEventListener("click", function (e) {
    var action = e.target && e.target.getAttribute("data-action");
    if (action === "expand") setOpen(true);
    if (action === "collapse") setOpen(false);
  });
  tools.addEventListener("change", function () {
    var shown = {};
    tools.querySelectorAll("input[type=checkbox]").forEach(function (box) { shown[box.value] = box.checked; });
    notes.forEach(function (n) {
      var type = (n.className.match(/type-(\S+)/) || [])[1];
      n.hidden = shown[type] === false;
    });
  });
})();
