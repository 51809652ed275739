// A batch being issued (the console's batch page): poll its status each 2 s and move the
// bar, then reload once it is whole (the CSV's button appears). Without this script the
// page refreshes itself (<noscript> meta refresh). A file of its own because the pages'
// Content-Security-Policy allows no inline script.
const box = document.querySelector(".batch-progress[data-issuing='yes']");
if (box) {
  const bar = box.querySelector("progress");
  const text = box.querySelector("#progress-text");
  const number = new Intl.NumberFormat(document.documentElement.lang || undefined);
  const poll = async () => {
    try {
      const answer = await fetch(box.dataset.statusUrl, { credentials: "same-origin" });
      if (answer.ok) {
        const status = await answer.json();
        bar.value = status.issued;
        text.textContent = text.dataset.template
          .replace("{issued}", number.format(status.issued))
          .replace("{count}", number.format(status.count));
        if (status.done) {
          window.location.reload();
          return;
        }
      }
    } catch {
      // The server away for a moment: try again at the next turn.
    }
    window.setTimeout(poll, 2000);
  };
  window.setTimeout(poll, 2000);
}
