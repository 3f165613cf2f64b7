// Copy buttons: shown only where JavaScript runs; the page works without.
document.querySelectorAll("button[data-copy]").forEach(function (b) {
  b.hidden = false;
  b.addEventListener("click", function () {
    navigator.clipboard.writeText(b.dataset.copy).then(function () {
      b.textContent = "Copied";
      document.getElementById("copied").textContent = "Copied " + b.dataset.copy;
    });
  });
});
